"""What deserves a tray notification after a sync, and only once per occurrence.

Each alert has a key; the caller remembers keys already shown (in the store, so a restart does not
repeat them) and drops alerts whose key it has seen. Transitions (low balance, lost trust) are
keyed by episode so a new episode notifies again. An alert about a condition is `lasting`: the
window keeps it listed while its key is active and drops it once the condition clears.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.core.account_guard import REMINDER_DAYS
from app.core.cloud_address import sends_token_in_clear
from app.core.forecast import Forecast
from app.core.model import AccountStatus, EntryKind, LedgerEntry, PaymentMethod
from app.core.money import dollars
from app.core.status import StatusView, age_text, clock_text, duration_text, iso

UPCOMING_RENEWAL = timedelta(days=3)
# Venue Wi-Fi drops for seconds all the time; the icon shows those. A notification is for an
# outage long enough that photos wait and the balance drifts (Settings can change it).
OFFLINE_NOTICE_AFTER = timedelta(seconds=60)
# The first sync of a new cache brings months of history: only entries this recent are news.
NEWS_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class Alert:
    key: str
    title: str
    message: str
    severity: str = "warning"  # "info" | "warning" | "critical"
    lasting: bool = False  # about a condition: listed while its key is active
    # When the condition bites (the forecast: when the credits run out). The phone's rate limit
    # lets an alert through whose deadline is at least twice as near as the last one it got.
    due_at: datetime | None = None


def alerts_for(
    view: StatusView, new_entries: list[LedgerEntry], now: datetime,
    offline_after: timedelta = OFFLINE_NOTICE_AFTER,
) -> list[Alert]:
    found: list[Alert] = []
    if sends_token_in_clear(view.cloud_url):
        found.append(Alert(
            key="unencrypted", title="Cloud connection not encrypted",
            message="The API token and the photos cross the network in the clear: settings."
            "json allows plain http://. Use an https:// address unless this network is yours "
            "alone.", lasting=True))
    if view.low_balance and view.balance_cents is not None and view.as_of is not None:
        found.append(
            Alert(
                key=f"low-balance:{view.low_balance_cents}",
                title="Credits running low",
                message=f"{dollars(view.balance_cents)} left (below "
                f"{dollars(view.low_balance_cents)}), {age_text(view.as_of, now)}. "
                "All booths on the account share this balance.",
                lasting=True,
            )
        )
    contact = view.contact
    if view.offline and contact.failing_since is not None and (
            now - contact.failing_since >= offline_after):
        portal = contact.kind == "captive_portal"
        found.append(
            Alert(
                key=f"offline:{iso(contact.failing_since)}",
                title="Wi-Fi login page in the way" if portal else "Cloud unreachable",
                message=f"No contact with the cloud since {clock_text(contact.failing_since, now)}"
                + (": open a browser and log in to the venue network." if portal else ".")
                + " Photos wait safely in the queue; the balance shown is "
                f"{age_text(view.as_of, now, current=False)}.",
                lasting=True,
            )
        )
    if view.untrusted and view.failing_since is not None:
        found.append(
            Alert(
                key=f"untrusted:{iso(view.failing_since)}",
                title="Balance can no longer be trusted",
                message=f"No confirmed balance since {clock_text(view.failing_since, now)}: "
                f"the figure shown is {age_text(view.as_of, now, current=False)}. Other booths "
                "may have spent credits meanwhile.",
                severity="critical",
                lasting=True,
            )
        )
    for entry in new_entries:
        if entry.timestamp < now - NEWS_WINDOW:
            continue
        if entry.kind is EntryKind.SUBSCRIPTION_RENEWAL and entry.amount_cents < 0:
            found.append(
                Alert(
                    key=f"renewal-entry:{entry.id}",
                    title="Renewal paid from credits",
                    message=f"{dollars(-entry.amount_cents)} for the subscription renewal was "
                    "drawn from your AI credits. Set a card as primary payment method to stop it.",
                )
            )
    found.extend(_account_alerts(view, now))
    return found


def _account_alerts(view: StatusView, now: datetime) -> list[Alert]:
    acct = view.account
    if acct is None:
        return []
    found = []
    if (
        acct.status is AccountStatus.ACTIVE
        and acct.primary_payment_method is PaymentMethod.CREDITS
        and acct.renews_at is not None
        and now <= acct.renews_at <= now + UPCOMING_RENEWAL
    ):
        found.append(
            Alert(
                key=f"renewal-upcoming:{iso(acct.renews_at)}",
                title="Renewal will be drawn from credits",
                message=f"The plan renews on {acct.renews_at.astimezone():%d %b} and the primary "
                "payment method is credits. Switch to a card in the dashboard to keep credits "
                "for AI.",
                severity="info",
                lasting=True,
            )
        )
    # A grace period with a reminder due (the last 14 days) is the account guard's to tell:
    # its 14/7/3/1-day reminders say the same with the credit at risk, and entering a short
    # grace period must not notify twice. A closed account is the guard's too: it files the
    # restore request and says so, in one voice (app.core.trap_line.restore_line).
    if acct.status in (AccountStatus.EXPIRED, AccountStatus.SUSPENDED) and acct.grace_ends_at \
            and acct.grace_ends_at - now > timedelta(days=max(REMINDER_DAYS)):
        left = acct.grace_ends_at - now
        found.append(
            Alert(
                key=f"grace:{acct.status.value}:{iso(acct.grace_ends_at)}",
                title="Credits at risk: account grace period",
                message=f"Plan {acct.status.value}. Unless you downgrade to Pay-As-You-Go by "
                f"{acct.grace_ends_at.astimezone():%d %b} ({_days(left.days)}), the account "
                f"closes and {view.balance_text()} in credits is removed.",
                severity="critical",
                lasting=True,
            )
        )
    return found


def fresh_alerts(current: list[Alert], active_before: set[str]) -> tuple[list[Alert], set[str]]:
    """Alerts to show now, and the set of active keys to remember.

    A condition notifies when it starts; when it clears its key drops out of the active set, so
    the next episode (balance low again after a top-up) notifies again.
    """
    active = {a.key for a in current}
    return [a for a in current if a.key not in active_before], active


def sooner_alerts(current: list[Alert], said: dict[str, datetime], now: datetime
                  ) -> tuple[list[Alert], dict[str, datetime]]:
    """A condition already notified whose deadline (`due_at`: when the credits run out) came
    at least twice as near as the one it was announced with is news again: a night speeding
    up took the forecast from 22:44 to 19:36 within minutes while the first word stood. Each
    such alert gets its own key (so the phone outbox takes it as new, and its rate limit lets
    a halved deadline through) and is not `lasting`: it is an update, listed as history. The
    deadline that stands announced for each key is returned, to be remembered with it.
    Halving bounds the count: a few a night, each twice as urgent."""
    sooner: list[Alert] = []
    announced: dict[str, datetime] = {}
    for alert in current:
        if alert.due_at is None:
            continue
        before = said.get(alert.key)
        if before is None:
            announced[alert.key] = alert.due_at
        elif (alert.due_at - now) * 2 <= before - now:
            sooner.append(replace(
                alert, key=f"{alert.key}:sooner:{alert.due_at.timestamp():.0f}",
                title=f"{alert.title} — sooner than said", lasting=False))
            announced[alert.key] = alert.due_at
        else:
            announced[alert.key] = before
    return sooner, announced


def ended_alerts(active_before: set[str], active_now: set[str], now: datetime) -> list[Alert]:
    """Conditions that were notified and have cleared, which the operator should hear about:
    the cloud being back after an outage that was announced."""
    found = []
    for key in sorted(active_before - active_now):
        kind, _, since_text = key.partition(":")
        if kind != "offline":
            continue
        since = _parse(since_text)
        lasted = f" after {duration_text((now - since).total_seconds())}" if since else ""
        found.append(Alert(f"online:{since_text}", "Cloud reachable again",
                           f"The cloud answers again{lasted}. Queued photos are being sent and "
                           "the balance is refreshed.", "info"))
    return found


def _parse(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def forecast_alerts(forecast: Forecast | None, now: datetime) -> list[Alert]:
    """Credits that will not last until the event ends, at the fleet's pace. Keyed by the
    event (the night it ends), not by when it runs out: a night that keeps speeding up moves
    that hour again and again, and each move is not news. A new warning comes only after the
    condition cleared (a top-up, a slower pace). The message carries the newest estimate; the
    window refreshes a listed alert's words without notifying again."""
    if forecast is None or not forecast.before_end or forecast.runs_out_at is None:
        return []
    when = forecast.runs_out_at.astimezone().strftime("%H:%M")
    event = forecast.event_end or forecast.runs_out_at
    return [Alert(
        key=f"runs-out:{event.astimezone():%Y-%m-%dT%H:%M}",
        title="Credits run out before the event ends",
        message=f"At tonight's pace (all booths, {dollars(round(forecast.cents_per_hour))} an "
        f"hour) the balance lasts until about {when}. Buy credits, or turn on auto-recharge.",
        severity="critical", lasting=True, due_at=forecast.runs_out_at)]


def _days(n: int) -> str:
    n = max(0, n)
    return f"{n} day{'s' if n != 1 else ''}"
