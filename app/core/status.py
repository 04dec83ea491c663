"""The one view of the cached balance that the tray, the window and `status --json` all show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from app.core.cache import CachedState
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

    @property
    def account_email(self) -> str | None:
        return self.account.email if self.account else None

    def balance_text(self) -> str:
        return "balance unknown" if self.balance_cents is None else dollars(self.balance_cents)

    def to_json(self) -> dict[str, Any]:
        acct = self.account
        return {
            "balance_cents": self.balance_cents,
            "as_of": iso(self.as_of),
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1),
            "stale": self.stale,
            "offline": self.offline,
            "untrusted": self.untrusted,
            "low_balance": self.low_balance,
            "low_balance_threshold_cents": self.low_balance_cents,
            "account_email": self.account_email,
            "account_status": acct.status.value if acct else None,
            "plan": acct.plan.value if acct else None,
            "cloud_url": self.cloud_url,
            "last_error": self.last_error,
            "error_kind": self.error_kind,
            "failing_since": iso(self.failing_since),
        }


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def build_view(state: CachedState, now: datetime, settings: ViewSettings) -> StatusView:
    health = state.health
    as_of = health.confirmed_at
    age = None if as_of is None else max(0.0, (now - as_of).total_seconds())
    failing = health.failing_since is not None
    offline = failing and health.last_error_kind in ("offline", "captive_portal")
    too_old = age is None or age > settings.stale_after.total_seconds()
    untrusted = as_of is None or (
        failing and health.failing_since is not None
        and now - health.failing_since >= settings.untrusted_after
    )
    balance = state.balance_cents
    return StatusView(
        balance_cents=balance,
        as_of=as_of,
        age_seconds=age,
        stale=failing or too_old,
        offline=offline,
        untrusted=untrusted,
        low_balance=balance is not None and balance < settings.low_balance_cents,
        account=state.account,
        cloud_url=settings.cloud_url,
        low_balance_cents=settings.low_balance_cents,
        last_error=health.last_error if failing else None,
        error_kind=health.last_error_kind if failing else None,
        failing_since=health.failing_since,
    )


def age_text(as_of: datetime | None, now: datetime) -> str:
    """'as of 14:02, 3 min ago' in the PC's local time; the date is added once it is not today."""
    if as_of is None:
        return "never confirmed by the cloud"
    local = as_of.astimezone()
    seconds = max(0, int((now - as_of).total_seconds()))
    if seconds < 60:
        ago = "just now"
    elif seconds < 3600:
        ago = f"{seconds // 60} min ago"
    elif seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        ago = f"{hours} h {minutes} min ago" if minutes else f"{hours} h ago"
    else:
        days = seconds // 86400
        ago = f"{days} day{'s' if days > 1 else ''} ago"
    same_day = local.date() == now.astimezone().date()
    stamp = local.strftime("%H:%M") if same_day else local.strftime("%d %b %H:%M")
    return f"as of {stamp}, {ago}"
