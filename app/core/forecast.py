"""How far the shared balance goes at tonight's mix of AI features.

The usage history is the account's (every booth), so the average price of a recent AI photo is
the whole fleet's mix: a booth doing headshots beside one doing background removal is priced
as the account really spends.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from app.core.model import EntryKind, LedgerEntry

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
