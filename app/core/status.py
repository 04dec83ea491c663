"""The one view of the cached balance that the tray, the window and `status --json` all show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from app.core.cache import CachedState, CloudContact
from app.core.model import Account
from app.core.money import dollars


@dataclass(frozen=True)
class ViewSettings:
    cloud_url: str
    low_balance_cents: int = 2000
    # The vendor's own app lags "a few minutes"; past this the figure is called stale even
    # when no sync has failed (e.g. the PC slept).
    stale_after: timedelta = timedelta(minutes=5)
    # Failing this long means the figure can no longer be trusted mid-event: notify.
    untrusted_after: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class StatusView:
    balance_cents: int | None
    as_of: datetime | None
    age_seconds: float | None
    stale: bool
    offline: bool
    untrusted: bool
    low_balance: bool
    account: Account | None
    cloud_url: str
    low_balance_cents: int
    last_error: str | None
    error_kind: str | None
    failing_since: datetime | None
    # Since when the figure is not current (None while it is), and the shared link state.
    stale_since: datetime | None = None
    contact: CloudContact = field(default_factory=CloudContact)
    # The cloud's own time of the figure, and how far its clock is from this PC's (cloud minus
    # booth, seconds) as the last confirmation measured it. `as_of` stays on this PC's clock.
    cloud_as_of: datetime | None = None
    clock_offset_seconds: float | None = None
    ledger_behind: bool = False  # the usage history cannot explain the balance yet

    @property
    def account_email(self) -> str | None:
        return self.account.email if self.account else None

    def balance_text(self) -> str:
        return "balance unknown" if self.balance_cents is None else dollars(self.balance_cents)

    def to_json(self) -> dict[str, Any]:
        acct = self.account
        return {
            "balance_cents": self.balance_cents,
            # The cloud's time of the figure; when this PC received it is `confirmed_at`.
            "as_of": iso(self.cloud_as_of or self.as_of),
            "confirmed_at": iso(self.as_of),
            "clock_offset_seconds": None if self.clock_offset_seconds is None
            else round(self.clock_offset_seconds, 1),
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1),
            "stale": self.stale,
            "offline": self.offline,
            "untrusted": self.untrusted,
            "low_balance": self.low_balance,
            "low_balance_threshold_cents": self.low_balance_cents,
            "account_email": self.account_email,
            "account_status": acct.status.value if acct else None,
            "plan": acct.plan.value if acct else None,
            "not_known_to_this_version": list(acct.unrecognised) if acct else [],
            "cloud_url": self.cloud_url,
            "last_error": self.last_error,
            "error_kind": self.error_kind,
            "failing_since": iso(self.failing_since),
            "stale_since": iso(self.stale_since),
            "offline_since": iso(self.contact.failing_since) if self.offline else None,
            "ledger_behind": self.ledger_behind,
        }


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def build_view(state: CachedState, now: datetime, settings: ViewSettings) -> StatusView:
    health, contact = state.health, state.contact
    as_of = health.confirmed_at
    age = None if as_of is None else max(0.0, (now - as_of).total_seconds())
    # Offline is about the link, whoever found it down (sync, a job, a connection check); the
    # figure is not current while anything fails, or once it is older than stale_after.
    offline = contact.unreachable
    too_old_at = None if as_of is None else as_of + settings.stale_after
    too_old = too_old_at is None or now > too_old_at
    failures = [t for t in (health.failing_since, contact.failing_since) if t is not None]
    failing_since = min(failures) if failures else None
    stale_since = min([*failures, *([too_old_at] if too_old and too_old_at else [])],
                      default=None)
    untrusted = as_of is None or (
        failing_since is not None and now - failing_since >= settings.untrusted_after)
    sync_failing = health.failing_since is not None
    balance = state.balance_cents
    return StatusView(
        balance_cents=balance,
        as_of=as_of,
        age_seconds=age,
        stale=bool(failures) or too_old,
        offline=offline,
        untrusted=untrusted,
        low_balance=balance is not None and balance < settings.low_balance_cents,
        account=state.account,
        cloud_url=settings.cloud_url,
        low_balance_cents=settings.low_balance_cents,
        last_error=health.last_error if sync_failing else contact.message,
        error_kind=health.last_error_kind if sync_failing else contact.kind,
        failing_since=failing_since,
        stale_since=stale_since,
        contact=contact,
        cloud_as_of=health.cloud_as_of,
        clock_offset_seconds=None if as_of is None or health.cloud_as_of is None
        else (health.cloud_as_of - as_of).total_seconds(),
        ledger_behind=health.ledger_behind,
    )


# Past this, the difference between the clocks is worth telling (a minute is more than the
# round trip and the seconds' rounding can explain).
CLOCK_NOTE_AFTER = 60.0


def clock_note(view: StatusView) -> str | None:
    """'This PC's clock is 62 min ahead of the cloud's', once that exceeds a minute."""
    offset = view.clock_offset_seconds
    if offset is None or abs(offset) <= CLOCK_NOTE_AFTER:
        return None
    way = "behind" if offset > 0 else "ahead of"
    return (f"This PC's clock is {duration_text(abs(offset))} {way} the cloud's; refund "
            "requests cite the cloud's time")


def age_text(as_of: datetime | None, now: datetime, *, current: bool = True) -> str:
    """'as of 14:02, 3 min ago' in the PC's local time; the date is added once it is not today.
    'just now' is only said of a figure that is current: beside "not current" it would read as
    a contradiction, so a young figure that is not current is 'under a minute' old."""
    if as_of is None:
        return "never confirmed by the cloud"
    return f"as of {clock_text(as_of, now)}, {ago_text(as_of, now, current=current)}"


def ago_text(moment: datetime, now: datetime, *, current: bool = True) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        # Tooltips and menus are redrawn once a minute: a seconds count would go stale.
        return "just now" if current else "under a minute ago"
    return f"{duration_text(seconds)} ago"


def duration_text(seconds: float) -> str:
    """'40 s', '3 min', '2 h 5 min', '3 days'."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days = seconds // 86400
    return f"{days} day{'s' if days > 1 else ''}"


def clock_text(moment: datetime, now: datetime) -> str:
    """14:02 in local time, or '03 Dec 14:02' when it is not today."""
    local = moment.astimezone()
    same_day = local.date() == now.astimezone().date()
    return local.strftime("%H:%M") if same_day else local.strftime("%d %b %H:%M")
