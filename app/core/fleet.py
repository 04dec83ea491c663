"""The fleet: what each monitor tells the others of its account, and the one view of them all.

Each booth publishes a small state message (retained: the broker keeps only the newest) and a
few events worth keeping one by one (a photo held, a claim filed). The view gathers the newest
state of every booth of the account: one row per booth, the shared balance once (the freshest
copy any booth saw), and the account's pace. Messages carry a sequence number that grows for as
long as the booth's store exists, so a message seen twice (QoS 1 redelivery, a retained copy
after a reconnect) or late is recognised and counted once; `origin` names the store, so a booth
whose store was recreated (seq back at 1) is believed again.

Encoding is compact JSON with short field names; readers ignore fields they do not know and
take missing ones as unknown, so booths on different versions share one fleet.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from app.core.forecast import Forecast
from app.core.status import iso

SCHEMA = 1
ROOT = "booth-credit-monitor"
ONLINE, OFFLINE = "online", "offline"
# Link words in the state message (what this booth's own link to the cloud is doing).
LINKS = ("ok", "slow", "offline", "unknown")
# A booth republishes its state this often even when nothing changed, so "last contact" says
# the booth is alive; a row older than twice that is called silent.
HEARTBEAT = timedelta(minutes=5)
SILENT_AFTER = HEARTBEAT * 2
MAX_EVENTS = 50  # the view keeps this many recent events (newest first)
SEEN_EVENTS = 5000  # event seqs remembered per booth to recognise copies
_SEGMENT = re.compile(r"[^A-Za-z0-9._-]+")
MAX_SEGMENT = 64


def topic_segment(text: str) -> str:
    """A name made safe as one MQTT topic level: no '/', '+', '#', spaces or control
    characters (they would split or widen a topic, and ACL patterns rely on the levels)."""
    cleaned = _SEGMENT.sub("_", text.strip()).strip("_.")[:MAX_SEGMENT]
    return cleaned or "unnamed"


def account_segment(account: str) -> str:
    """The account's topic level: an email's '@' becomes '_at_' so the level still reads as
    the address ('ops_at_studio.example')."""
    return topic_segment(account.strip().lower().replace("@", "_at_"))


@dataclass(frozen=True)
class Topics:
    """booth-credit-monitor/<account>/<booth>/{state,status,events}."""

    account: str
    booth: str

    @property
    def prefix(self) -> str:
        return f"{ROOT}/{self.account}"

    @property
    def state(self) -> str:
        return f"{self.prefix}/{self.booth}/state"

    @property
    def status(self) -> str:
        return f"{self.prefix}/{self.booth}/status"

    @property
    def events(self) -> str:
        return f"{self.prefix}/{self.booth}/events"

    @property
    def phone(self) -> str:
        """Retained "on" / "off": does this booth send phone alerts (has an alert address)?
        The booths pick one among those that do to send the account-wide alerts."""
        return f"{self.prefix}/{self.booth}/phone"

    @property
    def subscriptions(self) -> list[str]:
        """Only this account's prefix, one level each: never '#' at the root."""
        return [self.states, f"{self.prefix}/+/status", f"{self.prefix}/+/events",
                f"{self.prefix}/+/phone"]

    @property
    def states(self) -> str:
        """Every booth's state: the bulk of the traffic, so subscribed only while someone
        looks (the retained copies give the whole fleet the moment one subscribes)."""
        return f"{self.prefix}/+/state"

    def parse(self, topic: str) -> tuple[str, str] | None:
        """(booth, kind) for a topic of this account, else None (another account's topic
        must never reach the view, whatever the broker sends)."""
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != ROOT or parts[1] != self.account:
            return None
        if parts[3] not in ("state", "status", "events", "phone") or not parts[2]:
            return None
        return parts[2], parts[3]


# -- the messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BoothState:
    booth: str  # the topic level (booth id made topic-safe)
    name: str  # what the operator called it (Settings), for the row
    seq: int = 0
    origin: str = ""
    sent_at: datetime | None = None  # booth's clock
    balance_cents: int | None = None
    balance_as_of: datetime | None = None  # when the cloud last confirmed it (booth's clock)
    link: str = "unknown"
    queued: int = 0  # photos not finished yet (held ones included)
    held: int = 0
    open_claims: int = 0
    cents_per_hour: float | None = None  # the account's pace as this booth's ledger shows it
    photos_left: int | None = None
    schema: int = SCHEMA

    def content(self) -> dict[str, Any]:
        """What is news in this state: two states with the same content need not both be
        sent. Left out with the envelope: the balance's time and the pace, which move with
        every sync even when nothing else did; they go out with the next news or the
        heartbeat (with fifty booths on random phases, some booth's copy is always fresh)."""
        doc = _state_doc(self)
        for key in ("seq", "o", "t", "asof", "cph", "pl"):
            doc.pop(key, None)
        return doc


@dataclass(frozen=True)
class BoothEvent:
    booth: str
    kind: str  # photo_held | claim_filed | claim_paid | ...
    text: str
    seq: int = 0
    origin: str = ""
    at: datetime | None = None
    schema: int = SCHEMA


def _state_doc(s: BoothState) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": s.schema, "seq": s.seq, "o": s.origin, "b": s.booth, "n": s.name,
        "t": iso(s.sent_at), "bal": s.balance_cents, "asof": iso(s.balance_as_of),
        "link": s.link, "q": s.queued, "h": s.held, "c": s.open_claims,
        "cph": None if s.cents_per_hour is None else round(s.cents_per_hour, 1),
        "pl": s.photos_left,
    }
    return {k: v for k, v in doc.items() if v is not None}


def encode_state(state: BoothState) -> bytes:
    return json.dumps(_state_doc(state), separators=(",", ":"), ensure_ascii=False).encode()


def encode_event(event: BoothEvent) -> bytes:
    doc = {"v": event.schema, "seq": event.seq, "o": event.origin, "b": event.booth,
           "k": event.kind, "x": event.text, "t": iso(event.at)}
    return json.dumps({k: v for k, v in doc.items() if v is not None},
                      separators=(",", ":"), ensure_ascii=False).encode()


def decode_state(payload: bytes, booth: str) -> BoothState | None:
    """None for anything that is not a state message we can read (a newer major schema we
    cannot read is still read for the fields we know: unknown fields are ignored)."""
    doc = _json(payload)
    if doc is None or not isinstance(doc.get("seq"), int):
        return None
    link = doc.get("link")
    return BoothState(
        booth=booth, name=_str(doc.get("n")) or booth, seq=doc["seq"],
        origin=_str(doc.get("o")), sent_at=_time(doc.get("t")),
        balance_cents=_int(doc.get("bal")), balance_as_of=_time(doc.get("asof")),
        link=link if link in LINKS else "unknown", queued=_int(doc.get("q")) or 0,
        held=_int(doc.get("h")) or 0, open_claims=_int(doc.get("c")) or 0,
        cents_per_hour=_num(doc.get("cph")), photos_left=_int(doc.get("pl")),
        schema=_int(doc.get("v")) or 0)


def decode_event(payload: bytes, booth: str) -> BoothEvent | None:
    doc = _json(payload)
    if doc is None or not isinstance(doc.get("seq"), int):
        return None
    return BoothEvent(booth=booth, kind=_str(doc.get("k")) or "event", text=_str(doc.get("x")),
                      seq=doc["seq"], origin=_str(doc.get("o")), at=_time(doc.get("t")),
                      schema=_int(doc.get("v")) or 0)


def _json(payload: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- the view -------------------------------------------------------------------------------


@dataclass
class _Booth:
    state: BoothState | None = None
    status: str | None = None
    received_at: datetime | None = None  # our clock, the last message of any kind
    # When we heard the status word (our clock); None when it was already so when we looked
    # (a retained copy at our subscription: an "offline" that may be days old).
    status_since: datetime | None = None
    phone: bool | None = None  # sends phone alerts; None: not said (an older version)


@dataclass(frozen=True)
class FleetRow:
    booth: str
    name: str
    online: bool | None  # the broker's word (status topic; the last will says offline)
    last_contact: datetime | None
    age_seconds: float | None
    silent: bool  # no state for longer than two heartbeats
    balance_cents: int | None
    balance_as_of: datetime | None
    link: str
    queued: int
    held: int
    open_claims: int
    seq: int

    def to_json(self) -> dict[str, Any]:
        return {"booth": self.booth, "name": self.name, "online": self.online,
                "last_contact": iso(self.last_contact),
                "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1),
                "silent": self.silent, "balance_cents": self.balance_cents,
                "balance_as_of": iso(self.balance_as_of), "link": self.link,
                "queued": self.queued, "held": self.held, "open_claims": self.open_claims,
                "seq": self.seq}


@dataclass(frozen=True)
class FleetView:
    account: str
    rows: list[FleetRow]
    balance_cents: int | None  # the shared balance, once: the freshest copy of any booth
    balance_as_of: datetime | None
    balance_age_seconds: float | None
    balance_from: str | None  # which booth's copy
    forecast: Forecast | None
    events: list[BoothEvent] = field(default_factory=list)  # newest first
    duplicates: int = 0  # messages seen again (redelivered, or older than what we had)

    @property
    def queued(self) -> int:
        return sum(r.queued for r in self.rows)

    @property
    def held(self) -> int:
        return sum(r.held for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account, "booths": [r.to_json() for r in self.rows],
            "balance_cents": self.balance_cents, "balance_as_of": iso(self.balance_as_of),
            "balance_age_seconds": None if self.balance_age_seconds is None
            else round(self.balance_age_seconds, 1),
            "balance_from": self.balance_from,
            "forecast": self.forecast.to_json() if self.forecast else None,
            "queued": self.queued, "held": self.held,
            "events": [{"booth": e.booth, "kind": e.kind, "text": e.text, "at": iso(e.at),
                        "seq": e.seq} for e in self.events],
        }


class FleetModel:
    """What the subscriber has heard, booth by booth. Not thread-safe: its owner locks."""

    def __init__(self, topics: Topics, max_events: int = MAX_EVENTS):
        self.topics = topics
        self._max_events = max_events
        self._booths: dict[str, _Booth] = {}
        self._events: list[BoothEvent] = []
        self._seen_events: dict[tuple[str, str], set[int]] = {}  # (booth, origin) -> seqs
        self.duplicates = 0
        self.foreign = 0  # messages outside this account's prefix (never shown)

    def receive(self, topic: str, payload: bytes, received_at: datetime, *,
                retained: bool = False) -> bool:
        """Take one message; True when the view changed. `retained`: the broker's stored copy,
        delivered at our subscription (not news of this moment)."""
        where = self.topics.parse(topic)
        if where is None:
            self.foreign += 1
            return False
        booth, kind = where
        if not payload and kind != "events":
            return self._forget(booth, kind)
        entry = self._booths.setdefault(booth, _Booth())
        if kind == "phone":
            word = payload.decode("utf-8", "replace").strip()
            if word not in ("on", "off") or (word == "on") == entry.phone:
                return False
            entry.phone = word == "on"
            return True
        if kind == "status":
            word = payload.decode("utf-8", "replace").strip()
            if word not in (ONLINE, OFFLINE) or word == entry.status:
                return False
            entry.status = word
            entry.received_at = received_at
            entry.status_since = None if retained else received_at
            return True
        if kind == "state":
            state = decode_state(payload, booth)
            if state is None:
                return False
            known = entry.state
            if known is not None and known.origin == state.origin and state.seq <= known.seq:
                self.duplicates += 1
                return False
            entry.state = state
            entry.received_at = received_at
            return True
        event = decode_event(payload, booth)
        if event is None:
            return False
        # The seqs seen, not only the newest: an event re-sent after a reconnect may arrive
        # after a newer one and is still new if we never had it.
        seen = self._seen_events.setdefault((booth, event.origin), set())
        if event.seq in seen:
            self.duplicates += 1
            return False
        seen.add(event.seq)
        if len(seen) > SEEN_EVENTS:
            for old in sorted(seen)[: len(seen) - SEEN_EVENTS]:
                seen.discard(old)
        self._events.insert(0, event)
        del self._events[self._max_events:]
        return True

    def _forget(self, booth: str, kind: str) -> bool:
        """An empty retained message: the booth retired that topic (renamed, moved)."""
        entry = self._booths.get(booth)
        if entry is None:
            return False
        if kind == "state":
            entry.state = None
        elif kind == "phone":
            entry.phone = None
        else:
            entry.status = None
        if entry.state is None and entry.status is None and entry.phone is None:
            del self._booths[booth]
        return True

    def statuses(self) -> list[tuple[str, bool, datetime | None, bool | None]]:
        """(booth, online, since, sends phone alerts) for every booth whose status we have:
        what the alert path needs to pick the one booth that sends the account's alerts
        (app.core.alert_sender). Status and phone topics are always received, the Fleet tab
        open or not."""
        return [(booth, entry.status == ONLINE, entry.status_since, entry.phone)
                for booth, entry in sorted(self._booths.items()) if entry.status is not None]

    def events(self) -> list[BoothEvent]:
        """Newest first by when they happened (a reconnect delivers them in any order)."""
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        return sorted(self._events, key=lambda e: (e.at or epoch, e.seq), reverse=True)

    def view(self, now: datetime, *, event_end: datetime | None = None) -> FleetView:
        rows = [_row(booth, entry, now) for booth, entry in sorted(self._booths.items())
                if entry.state is not None or entry.status is not None]
        rows.sort(key=lambda r: (r.name.lower(), r.booth))
        fresh = [(entry.state, booth) for booth, entry in self._booths.items()
                 if entry.state and entry.state.balance_cents is not None
                 and entry.state.balance_as_of is not None]
        best = max(fresh, key=lambda pair: (pair[0].balance_as_of, pair[0].seq), default=None)
        if best is None:
            return FleetView(self.topics.account, rows, None, None, None, None, None,
                             self.events(), self.duplicates)
        state, booth = best
        as_of = state.balance_as_of
        assert as_of is not None and state.balance_cents is not None
        return FleetView(
            self.topics.account, rows, state.balance_cents, as_of,
            max(0.0, (now - as_of).total_seconds()), booth,
            fleet_forecast(state.balance_cents, as_of, state.cents_per_hour, state.photos_left,
                           now, event_end),
            self.events(), self.duplicates)


def _row(booth: str, entry: _Booth, now: datetime) -> FleetRow:
    s = entry.state or BoothState(booth=booth, name=booth)
    # Last contact is when the booth sent its newest state (a retained copy replayed at our
    # connect is not fresh contact); a booth's clock ahead of ours is not taken as the future.
    contact = s.sent_at or entry.received_at
    if contact is not None and entry.received_at is not None:
        contact = min(contact, entry.received_at)
    age = None if contact is None else max(0.0, (now - contact).total_seconds())
    online = None if entry.status is None else entry.status == ONLINE
    return FleetRow(booth=booth, name=s.name, online=online, last_contact=contact,
                    age_seconds=age, silent=age is None or age > SILENT_AFTER.total_seconds(),
                    balance_cents=s.balance_cents, balance_as_of=s.balance_as_of,
                    link=s.link,
                    queued=s.queued, held=s.held, open_claims=s.open_claims, seq=s.seq)


def fleet_forecast(balance_cents: int, as_of: datetime, cents_per_hour: float | None,
                   photos_left: int | None, now: datetime,
                   event_end: datetime | None) -> Forecast | None:
    """The shared balance at the account's pace. The pace is the account's (every booth's
    charges in the ledger), so it is taken from the same booth as the balance, never summed
    over booths (that would count each charge once per booth)."""
    if cents_per_hour is None:
        return None
    if cents_per_hour <= 0:
        return Forecast(0.0, photos_left, None, False, False, event_end)
    # The balance was this much at as_of: spending has gone on since then.
    runs_out = as_of + timedelta(hours=max(0, balance_cents) / cents_per_hour)
    before_end = bool(event_end and runs_out < event_end)
    return Forecast(cents_per_hour, photos_left, max(runs_out, now), before_end, False,
                    event_end)


def with_envelope(state: BoothState, seq: int, origin: str, sent_at: datetime) -> BoothState:
    return replace(state, seq=seq, origin=origin, sent_at=sent_at)


# Alerts of this booth that the rest of the fleet should see one by one (alert key prefix ->
# event kind); the rest (low balance, offline...) is in the state already.
EVENT_KINDS = {"held": "photo_held", "refund-filed": "claim_filed",
               "refund-refunded": "claim_paid", "paused": "queue_paused", "stuck": "queue_stuck"}
MAX_EVENT_TEXT = 200


def event_for_alert(key: str, title: str, message: str) -> tuple[str, str] | None:
    """(kind, text) for an alert worth telling the fleet, else None."""
    kind = EVENT_KINDS.get(key.split(":", 1)[0])
    if kind is None:
        return None
    return kind, f"{title}: {message}"[:MAX_EVENT_TEXT]
