"""The fleet view in words, the same in the Fleet tab and in `fleet` on the command line."""

from __future__ import annotations

from datetime import datetime

from app.core.fleet import FleetRow, FleetView
from app.core.money import dollars
from app.core.status import age_text, ago_text

LINK_WORDS = {"ok": "ok", "slow": "SLOW LINK", "offline": "OFFLINE", "unknown": "—"}
COLUMNS = ("Booth", "Last contact", "Balance seen", "Link", "Queued", "Held", "Claims")


def contact_text(row: FleetRow, now: datetime) -> str:
    """'online, just now' / 'offline, 12 min ago' / 'silent, 25 min ago'."""
    if row.last_contact is None:
        return "offline" if row.online is False else "never heard"
    ago = ago_text(row.last_contact, now)
    if row.online is False:
        return f"offline, {ago}"
    if row.silent:
        return f"silent, {ago}"
    return f"online, {ago}"


def row_cells(row: FleetRow, now: datetime) -> list[str]:
    balance = "—" if row.balance_cents is None else dollars(row.balance_cents)
    return [row.name, contact_text(row, now), balance, LINK_WORDS.get(row.link, row.link),
            str(row.queued), str(row.held), str(row.open_claims)]


def balance_line(view: FleetView, now: datetime) -> str:
    if view.balance_cents is None:
        return "Shared balance: no booth has reported it yet"
    source = next((r.name for r in view.rows if r.booth == view.balance_from),
                  view.balance_from)
    return (f"Shared balance {dollars(view.balance_cents)}, "
            f"{age_text(view.balance_as_of, now)} (from {source})")


def pace_line(view: FleetView, now: datetime) -> str:
    f = view.forecast
    if f is None:
        return "Fleet pace: not known yet"
    if f.cents_per_hour <= 0:
        return "Fleet pace: no AI charges in the last hours"
    tail = f.text(now)
    warn = " — runs out before the event ends" if f.before_end else ""
    return f"Fleet pace {dollars(round(f.cents_per_hour))}/h" + (f", {tail}" if tail else "") \
        + warn


def summary_line(view: FleetView) -> str:
    online = sum(1 for r in view.rows if r.online)
    return (f"{len(view.rows)} booth{'s' if len(view.rows) != 1 else ''}, {online} online, "
            f"{view.queued} photo{'s' if view.queued != 1 else ''} queued, {view.held} held")
