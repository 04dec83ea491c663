"""The fleet's outbox (component "fleet"): what this booth still has to tell its account.

A state or an event is committed here, with its sequence number, before the MQTT client sees
it; a row is marked published only when the broker's PUBACK for exactly that row and seq comes
back. MQTT clients keep unsent messages in memory only, so a restart or a crash would lose them:
this table is what survives.

The state topic is retained (the broker keeps only the newest), so the outbox keeps only the
newest state too: one row, overwritten with each new state. A booth that was offline for an
hour sends one state when it is back, not an hour of them. Events (a photo held, a claim filed)
are worth keeping one by one: each is its own row, and old published ones are pruned.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.adapters.store.db import Database
from app.adapters.store.outbox import from_epoch, to_epoch
from app.core.alert_sender import Peer, Presence
from app.core.fleet import (
    BoothEvent,
    BoothState,
    encode_event,
    encode_state,
    with_envelope,
)

# slot is 'state' for the one coalesced state row and NULL for events. content is the state
# without its envelope (unchanged: not sent again). published_at stays NULL until the broker
# acknowledged this very seq. (No semicolons in the SQL's comments: migrations split on them.)
MIGRATIONS = [
    """
    CREATE TABLE fleet_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE fleet_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        slot TEXT UNIQUE,
        seq INTEGER NOT NULL,
        payload BLOB NOT NULL,
        content TEXT NOT NULL,
        created_at REAL NOT NULL,
        published_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX fleet_outbox_unpublished ON fleet_outbox(published_at, id)
    """,
]

STATE_SLOT = "state"
KEEP_PUBLISHED_EVENTS = timedelta(days=2)  # for diagnostics; then pruned
PRESENCE_KEY = "presence"  # fleet_meta: what this booth sees of its fleet, for the alert path


@dataclass(frozen=True)
class OutboxRow:
    id: int
    kind: str
    seq: int
    payload: bytes
    attempts: int


class FleetOutbox:
    def __init__(self, db: Database):
        self._db = db
        db.migrate("fleet", MIGRATIONS)
        self.origin = self._origin()

    def _origin(self) -> str:
        """A random name for this store, made once: a seq is only comparable within it."""
        with self._db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO fleet_meta(key, value) VALUES ('origin', ?)",
                         (secrets.token_hex(6),))
            conn.execute("INSERT OR IGNORE INTO fleet_meta(key, value) VALUES ('seq', '0')")
            return str(conn.execute(
                "SELECT value FROM fleet_meta WHERE key = 'origin'").fetchone()[0])

    @staticmethod
    def _next_seq(conn: sqlite3.Connection) -> int:
        conn.execute("UPDATE fleet_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'seq'")
        return int(conn.execute("SELECT value FROM fleet_meta WHERE key = 'seq'").fetchone()[0])

    # -- writing --------------------------------------------------------------------------------

    def put_state(self, state: BoothState, at: datetime, *, force: bool = False) -> int | None:
        """Commit the newest state in place of any older one, sent or not; returns its seq,
        or None when it says nothing new (the last one, published or waiting, is the same)
        and `force` (the heartbeat) is not set."""
        content = json.dumps(state.content(), sort_keys=True)
        with self._db.transaction() as conn:
            row = conn.execute("SELECT content FROM fleet_outbox WHERE slot = ?",
                               (STATE_SLOT,)).fetchone()
            if row is not None and row["content"] == content and not force:
                return None
            seq = self._next_seq(conn)
            payload = encode_state(with_envelope(state, seq, self.origin, at))
            conn.execute(
                "INSERT INTO fleet_outbox(kind, slot, seq, payload, content, created_at)"
                " VALUES ('state', ?, ?, ?, ?, ?) ON CONFLICT(slot) DO UPDATE SET"
                " seq = excluded.seq, payload = excluded.payload, content = excluded.content,"
                " created_at = excluded.created_at, published_at = NULL, attempts = 0",
                (STATE_SLOT, seq, payload, content, at.timestamp()))
            return seq

    def put_event(self, event: BoothEvent, at: datetime) -> int:
        with self._db.transaction() as conn:
            seq = self._next_seq(conn)
            payload = encode_event(BoothEvent(event.booth, event.kind, event.text, seq,
                                              self.origin, event.at or at))
            conn.execute("INSERT INTO fleet_outbox(kind, slot, seq, payload, content,"
                         " created_at) VALUES ('event', NULL, ?, ?, '', ?)",
                         (seq, payload, at.timestamp()))
            return seq

    # -- sending --------------------------------------------------------------------------------

    def unpublished(self, limit: int = 500) -> list[OutboxRow]:
        """Oldest first, the state row included wherever its newest version stands."""
        rows = self._db.query("SELECT id, kind, seq, payload, attempts FROM fleet_outbox"
                              " WHERE published_at IS NULL ORDER BY seq LIMIT ?", (limit,))
        return [OutboxRow(r["id"], r["kind"], r["seq"], bytes(r["payload"]), r["attempts"])
                for r in rows]

    def sending(self, row_id: int) -> None:
        with self._db.transaction() as conn:
            conn.execute("UPDATE fleet_outbox SET attempts = attempts + 1 WHERE id = ?",
                         (row_id,))

    def published(self, row_id: int, seq: int, at: datetime) -> bool:
        """The broker acknowledged (row, seq). A state overwritten while its older version was
        in flight keeps waiting: the acknowledged copy is not the newest."""
        with self._db.transaction() as conn:
            return bool(conn.execute(
                "UPDATE fleet_outbox SET published_at = ? WHERE id = ? AND seq = ?"
                " AND published_at IS NULL", (at.timestamp(), row_id, seq)).rowcount)

    def prune(self, now: datetime) -> int:
        with self._db.transaction() as conn:
            return conn.execute(
                "DELETE FROM fleet_outbox WHERE kind = 'event' AND published_at IS NOT NULL"
                " AND published_at < ?",
                ((now - KEEP_PUBLISHED_EVENTS).timestamp(),)).rowcount

    def counts(self) -> dict[str, int]:
        rows = self._db.query("SELECT kind, COUNT(*) AS n FROM fleet_outbox"
                              " WHERE published_at IS NULL GROUP BY kind")
        return {r["kind"]: r["n"] for r in rows}

    def last_seq(self) -> int:
        return int(self._db.query("SELECT value FROM fleet_meta WHERE key = 'seq'")[0][0])

    # -- what this booth sees of the fleet, for the alert path ----------------------------------

    def write_presence(self, presence: Presence) -> None:
        """The fleet path's picture of which booths are online (one small row, replaced): the
        alert path runs in another thread with its own runtime and reads it from here."""
        doc = {"me": presence.me, "connected": presence.connected,
               "at": presence.written_at.timestamp(),
               "peers": [[p.booth, p.online, to_epoch(p.since), p.phone]
                         for p in presence.peers]}
        with self._db.transaction() as conn:
            conn.execute("INSERT INTO fleet_meta(key, value) VALUES (?, ?) ON CONFLICT(key)"
                         " DO UPDATE SET value = excluded.value",
                         (PRESENCE_KEY, json.dumps(doc, separators=(",", ":"))))


def read_presence(db: Database) -> Presence | None:
    """The fleet path's last picture; None when no fleet path ever wrote one (no broker) or
    it cannot be read (then each booth sends its own alerts)."""
    if not db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fleet_meta'"):
        return None  # the fleet was never set up with this store
    rows = db.query("SELECT value FROM fleet_meta WHERE key = ?", (PRESENCE_KEY,))
    if not rows:
        return None
    try:
        doc = json.loads(rows[0][0])
        written = from_epoch(float(doc["at"]))
        assert written is not None
        return Presence(str(doc["me"]), bool(doc["connected"]), written, tuple(
            Peer(str(b), bool(online), from_epoch(since), None if phone is None else bool(phone))
            for b, online, since, phone in doc["peers"]))
    except (ValueError, KeyError, TypeError, AssertionError):
        return None
