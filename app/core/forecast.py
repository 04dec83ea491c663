"""How far the shared balance goes at tonight's mix of AI features.

The usage history is the account's (every booth), so the average price of a recent AI photo is
the whole fleet's mix: a booth doing headshots beside one doing background removal is priced
as the account really spends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.model import EntryKind, LedgerEntry
from app.core.status import iso

RECENT = timedelta(hours=3)
MIN_RUNS = 3  # fewer recent photos than this: fall back to the history we have


def average_photo_cents(entries: list[LedgerEntry], now: datetime) -> float | None:
    runs = [e for e in entries if e.kind is EntryKind.AI_RUN and e.amount_cents < 0]
    recent = [e for e in runs if now - e.timestamp <= RECENT]
    chosen = recent if len(recent) >= MIN_RUNS else runs
    if not chosen:
        return None
    return sum(-e.amount_cents for e in chosen) / len(chosen)


def photos_left(balance_cents: int | None, entries: list[LedgerEntry],
                now: datetime) -> int | None:
    """≈ how many more AI photos the balance pays for (None when nothing tells the price)."""
    if balance_cents is None:
        return None
    price = average_photo_cents(entries, now)
    if not price:
        return None
    return max(0, int(balance_cents // price))


def photos_left_text(balance_cents: int | None, entries: list[LedgerEntry],
                     now: datetime) -> str:
    left = photos_left(balance_cents, entries, now)
    if left is None:
        return ""
    return f"≈ {left} photo{'s' if left != 1 else ''} left at the current mix"


def known_prices(entries: Iterable[LedgerEntry], charged: Iterable[tuple[str, int]] = ()
                 ) -> dict[str, int]:
    """The latest price seen per feature, for "this spends about $X" before an operator sends
    a photo: our own jobs' charges first (`charged`: (feature, cents), newest last), then the
    usage history's AI charges for features our jobs have not used yet."""
    prices: dict[str, int] = {}
    for entry in sorted(entries, key=lambda e: e.timestamp):
        if entry.kind is EntryKind.AI_RUN and entry.amount_cents < 0 and entry.feature:
            prices[entry.feature] = -entry.amount_cents
    for feature, cents in charged:
        if cents > 0:
            prices[feature] = cents
    return prices


# -- the burn rate --------------------------------------------------------------------------

PACE_WINDOW = timedelta(hours=1)
PACE_FALLBACK = timedelta(hours=3)
MIN_CHARGES = 5  # fewer charges than this in the last hour: look back further
SHORT_SPAN = timedelta(minutes=5)


@dataclass(frozen=True)
class AutoRecharge:
    """The account's top-up rule, where the cloud reports one: below `threshold_cents` it buys
    `amount_cents` from the card on file."""

    threshold_cents: int
    amount_cents: int


@dataclass(frozen=True)
class Forecast:
    cents_per_hour: float
    photos_left: int | None
    runs_out_at: datetime | None  # when the balance reaches 0 (or the top-up threshold)
    before_end: bool  # it runs out before the event ends
    recharges: bool  # auto-recharge tops it up instead of running dry
    # The event it was measured against: the alert is keyed by it, so one night warns once.
    event_end: datetime | None = None

    def text(self, now: datetime) -> str:
        """'≈ 140 photos left, runs out ≈ 21:40 at tonight's pace'."""
        parts = []
        if self.photos_left is not None:
            parts.append(f"≈ {self.photos_left} photo{'s' if self.photos_left != 1 else ''} "
                         "left")
        if self.runs_out_at is not None:
            when = self.runs_out_at.astimezone().strftime(
                "%H:%M" if self.runs_out_at - now < timedelta(hours=20) else "%d %b %H:%M")
            parts.append(f"{'auto-recharge at' if self.recharges else 'runs out'} ≈ {when} at "
                         "tonight's pace")
        return ", ".join(parts)

    def to_json(self) -> dict[str, object]:
        return {"cents_per_hour": round(self.cents_per_hour, 1), "photos_left": self.photos_left,
                "runs_out_at": iso(self.runs_out_at),
                "before_event_end": self.before_end, "auto_recharge": self.recharges}


def spend(entries: Iterable[LedgerEntry], now: datetime, window: timedelta) -> list[LedgerEntry]:
    return [e for e in entries if e.kind in (EntryKind.AI_RUN, EntryKind.SMS)
            and e.amount_cents < 0 and now - window <= e.timestamp <= now]


def forecast(balance_cents: int | None, entries: list[LedgerEntry], now: datetime, *,
             event_end: datetime | None = None,
             auto_recharge: AutoRecharge | None = None) -> Forecast | None:
    """The shared balance at the fleet's recent pace (every booth's charges): spend per hour
    over the last hour, or the last three when the last hour saw fewer than five charges."""
    if balance_cents is None:
        return None
    recent = spend(entries, now, PACE_WINDOW)
    if len(recent) < MIN_CHARGES:
        recent = spend(entries, now, PACE_FALLBACK)
    if not recent:
        return Forecast(0.0, photos_left(balance_cents, entries, now), None, False, False,
                        event_end)
    # Over the span the charges really cover, not the whole window (a night that started
    # twenty minutes ago is not spending a third of its pace): the charges after the first,
    # over the time since the first. An idle tail since the last charge slows the pace down.
    recent.sort(key=lambda e: e.timestamp)
    span = now - recent[0].timestamp
    if len(recent) > 1:
        # Spread over at least five minutes: a burst is not an hour's pace, and a night that
        # started two minutes ago rises with each photo instead of sitting at one photo per
        # ten minutes until the fifth minute (the busy-night demo showed that lag).
        per_hour = sum(-e.amount_cents for e in recent[1:]) / (
            max(span, SHORT_SPAN).total_seconds() / 3600)
    else:
        per_hour = -recent[0].amount_cents / (max(span, timedelta(minutes=10)).total_seconds()
                                               / 3600)
    floor = auto_recharge.threshold_cents if auto_recharge else 0
    left = max(0, balance_cents - floor)
    runs_out = now + timedelta(hours=left / per_hour) if per_hour > 0 else None
    before_end = bool(runs_out and event_end and runs_out < event_end and not auto_recharge)
    return Forecast(per_hour, photos_left(balance_cents, entries, now), runs_out, before_end,
                    auto_recharge is not None, event_end)


def default_event_end(now: datetime, ends_at: str = "23:30") -> datetime:
    """The operator's 'event ends at' (local HH:MM), the next such moment from now."""
    hour, minute = (int(x) for x in ends_at.split(":", 1))
    local = now.astimezone()
    end = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return end if end > local else end + timedelta(days=1)
