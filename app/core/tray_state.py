"""Which face the tray icon shows, decided from the status view alone (so it is unit-testable)."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from app.core.bandwidth import PreflightResult, Verdict
from app.core.model import AccountStatus
from app.core.status import StatusView

# A slow reading says something about the venue link for a while, not forever: after this the
# icon stops claiming the link is slow until the next check (before the next job) says so again.
SLOW_LINK_MEMORY = timedelta(minutes=10)


class TrayState(str, enum.Enum):
    OK = "ok"
    LOW = "low"
    STALE = "stale"
    SLOW_LINK = "slow_link"
    ATTENTION = "attention"


# Worst first: the icon shows the most urgent thing; the tooltip lists all of them.
def tray_state(view: StatusView, link_slow: bool = False) -> TrayState:
    if attention_reasons(view):
        return TrayState.ATTENTION
    if view.stale:
        return TrayState.STALE
    if link_slow:
        return TrayState.SLOW_LINK
    if view.low_balance:
        return TrayState.LOW
    return TrayState.OK


def link_is_slow(result: PreflightResult | None, now: datetime) -> bool:
    """The last bandwidth check found the link below the threshold, recently enough to matter.
    'Marginal' is not slow: jobs still go, and the icon must not cry wolf at 4.9 Mbps."""
    return (result is not None and result.verdict is Verdict.SLOW
            and now - result.measured_at <= SLOW_LINK_MEMORY)


def attention_reasons(view: StatusView) -> list[str]:
    """Things only the operator can fix; retrying on our own will not."""
    reasons = []
    if view.error_kind == "auth":
        reasons.append("The cloud refused the API token: enter a new one in Settings.")
    acct = view.account
    if acct is not None and acct.status is not AccountStatus.ACTIVE:
        reasons.append(_account_reason(acct.status))
    if view.balance_cents is not None and view.balance_cents <= 0:
        reasons.append("No credits left: AI features are paused until you buy credits.")
    return reasons


def _account_reason(status: AccountStatus) -> str:
    return {
        AccountStatus.SUSPENDED: "Account suspended (payment failed): reactivate it within the "
        "grace period to keep your credits.",
        AccountStatus.EXPIRED: "Plan expired: downgrade to Pay-As-You-Go before the grace period "
        "ends, or the account and its credits are removed.",
        AccountStatus.CLOSED: "Account closed: contact support at once, credits may still be "
        "restorable for a few days.",
    }.get(status, f"Account status: {status.value}")
