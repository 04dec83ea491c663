"""Which face the tray icon shows, decided from the status view alone (so it is unit-testable)."""

from __future__ import annotations

import enum

from app.core.model import AccountStatus
from app.core.status import StatusView


class TrayState(str, enum.Enum):
    OK = "ok"
    LOW = "low"
    STALE = "stale"
    ATTENTION = "attention"


# Worst first: the icon shows the most urgent thing; the tooltip lists all of them.
def tray_state(view: StatusView) -> TrayState:
    if attention_reasons(view):
        return TrayState.ATTENTION
    if view.stale:
        return TrayState.STALE
    if view.low_balance:
        return TrayState.LOW
    return TrayState.OK


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
