"""The account guard in the tray tooltip: one plain line for the worst open money trap, and the
countdown to the day a plan that will not renew takes the credits with it.

The operator glances at the tray between guests; a tooltip has room for a line or two (Windows
cuts it at 127 characters), so each line is short, names the money, and says what the monitor
did about it. Pure: the caller passes the traps, the requests and the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from app.core.account_guard import REMINDER_DAYS, Trap, TrapKind
from app.core.model import Account, AccountStatus
from app.core.support_requests import MISMATCH_PREFIX, OPEN, RequestStatus, SupportRequest

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
# Among traps of one severity: the one that loses the most if nobody acts comes first.
KIND_RANK = {TrapKind.ACCOUNT_RESTORE: 0, TrapKind.MISSING_PURCHASE: 1,
             TrapKind.BALANCE_DISPUTE: 2, TrapKind.MISSING_COUPON_BONUS: 3}
SETTLED = (RequestStatus.RESOLVED, RequestStatus.WITHDRAWN)


def money(cents: int) -> str:
    """'$50' for whole dollars, '$50.25' otherwise: the tooltip has no room for '.00'."""
    whole, part = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}${whole:,}" + (f".{part:02d}" if part else "")


def open_traps(traps: Sequence[Trap], requests: Sequence[SupportRequest]
               ) -> list[tuple[Trap, SupportRequest | None]]:
    """The traps that need support and are not settled, each with its request (None: not made
    yet), worst first. Explained traps (a renewal from credits) and plan reminders are not
    here: the countdown line says those."""
    by_key = {r.trap_key: r for r in requests}
    # A balance that disagrees with the history is re-keyed by every new entry, and only one
    # such dispute is filed while one is open: the open one speaks for the newer keys.
    mismatch = next((r for r in reversed(requests) if r.trap_key.startswith(MISMATCH_PREFIX)
                     and r.status in OPEN), None)
    found = []
    for trap in traps:
        if not trap.file or trap.kind not in KIND_RANK:
            continue
        req = by_key.get(trap.key)
        if req is None and trap.key.startswith(MISMATCH_PREFIX):
            req = mismatch
        if req is not None and req.status in SETTLED:
            continue
        found.append((trap, req))
    found.sort(key=lambda pair: (SEVERITY_RANK.get(pair[0].severity, 3),
                                 KIND_RANK[pair[0].kind], -pair[0].at_risk_cents, pair[0].key))
    return found


def trap_line(traps: Sequence[Trap], requests: Sequence[SupportRequest],
              now: datetime) -> str:
    """'Purchase $50 not credited — support asked 19:02', or '' when no trap is open."""
    found = open_traps(traps, requests)
    if not found:
        return ""
    trap, req = found[0]
    more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
    return f"{what(trap)} — {progress(req, now)}{more}"


def what(trap: Trap) -> str:
    facts = trap.facts
    if trap.kind is TrapKind.MISSING_PURCHASE:
        return f"Purchase {money(int(facts.get('amount_cents', trap.at_risk_cents)))} not credited"
    if trap.kind is TrapKind.MISSING_COUPON_BONUS:
        code = facts.get("coupon_code", "coupon")
        return f"{code} bonus {money(trap.at_risk_cents)} not activated"
    if trap.kind is TrapKind.ACCOUNT_RESTORE:
        return f"Account closed, {money(trap.at_risk_cents)} removed"
    if trap.key.startswith("deduction:"):
        return f"{money(trap.at_risk_cents)} deducted, nothing explains it"
    if trap.at_risk_cents > 0:
        return f"Balance {money(trap.at_risk_cents)} short of the history"
    return "Balance does not match the history"


def progress(req: SupportRequest | None, now: datetime) -> str:
    if req is None or req.status is RequestStatus.PENDING:
        return "asking support"  # made and waiting for its channel, or made on the next cycle
    asked = _clock(req.filed_at or req.updated_at or req.created_at, now)
    if req.status is RequestStatus.FILED:
        return f"support asked {asked}"
    if req.status is RequestStatus.ACKNOWLEDGED:
        return f"support reviewing (asked {asked})"
    return "support said no"  # rejected: the window has the reason


def restore_line(req: SupportRequest | None, now: datetime) -> str:
    """A closed account in one voice with the guard that files its restore request: what was
    done and what to expect, never "contact support now" next to "a request is filed"."""
    hope = "support can often restore credits within days"
    if req is None or req.status is RequestStatus.PENDING:
        return f"Account closed: a restore request is being filed; {hope}"
    asked = _clock(req.filed_at or req.updated_at or req.created_at, now)
    if req.status is RequestStatus.FILED:
        return f"Account closed: a restore request was filed at {asked}; {hope}"
    if req.status is RequestStatus.ACKNOWLEDGED:
        return f"Account closed: support is reviewing the restore request (filed {asked})"
    if req.status is RequestStatus.REJECTED:
        return "Account closed: support said no to restoring the credits (Support requests)"
    return "Account closed: support settled the restore request"


# -- the plan's countdown ---------------------------------------------------------------------


def plan_end(account: Account | None, now: datetime) -> tuple[datetime, bool] | None:
    """When the credits are at stake, and whether that is the grace period's end (True) or
    the end of a plan that will not renew (False); None when nothing is ending."""
    if account is None:
        return None
    if account.status in (AccountStatus.EXPIRED, AccountStatus.SUSPENDED):
        end, grace = account.grace_ends_at, True
    elif (account.status is AccountStatus.ACTIVE and account.renews_at is None
          and account.expires_at is not None):
        end, grace = account.expires_at, False
        # An active plan is only worth a line once its first reminder is due.
        if end - now > timedelta(days=max(REMINDER_DAYS)):
            return None
    else:
        return None
    if end is None or end <= now:
        return None
    return end, grace


def countdown_line(account: Account | None, balance_cents: int | None, now: datetime) -> str:
    """'Grace: 12 days left; Pay-As-You-Go keeps $84' (during the grace period) or
    'Plan ends in 6 days; Pay-As-You-Go keeps $84' (a plan that will not renew)."""
    found = plan_end(account, now)
    if found is None:
        return ""
    end, grace = found
    # Short enough that the tooltip keeps it beside the balance, the state and a trap line.
    keeps = f"; Pay-As-You-Go keeps {money(balance_cents)}" if balance_cents else (
        "; downgrade to Pay-As-You-Go")
    left = time_left(end - now)
    return (f"Grace: {left} left{keeps}" if grace else f"Plan ends in {left}{keeps}")


def time_left(span: timedelta) -> str:
    """'12 days', '1 day 4 h', '5 h', '40 min': coarse far off, finer as the end nears."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days >= 2:
        return f"{days} days"
    if days == 1:
        return f"1 day {hours} h" if hours else "1 day"
    if hours:
        return f"{hours} h"
    return f"{max(1, mins)} min"


def _clock(moment: datetime, now: datetime) -> str:
    local = moment.astimezone()
    same_day = local.date() == now.astimezone().date()
    return local.strftime("%H:%M" if same_day else "%d %b %H:%M")
