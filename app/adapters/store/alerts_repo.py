"""The phone alert outbox (component "alerts"): one row per alert, committed before any send.

Admission (repeat / rate limit) is decided inside the insert's BEGIN IMMEDIATE, so two
processes raising the same alert queue it once. A relay leases waiting rows (owner + expiry)
before sending; each URL that took the alert is recorded right after its send (done_targets),
and the row is marked sent once every URL has it. A crash in the moment between a service's
answer and that record makes that one URL get the alert once more after the lease expires:
at most one duplicate per URL, carrying the same alert number. Times are wall-clock epochs:
a lease here lasts a minute and a clock step costs at most an early or late retry.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from app.adapters.store.db import Database
from app.adapters.store.outbox import from_epoch, to_epoch
from app.core.alert_outbox import OutboxAlert
from app.core.alert_routing import Route, admission
from app.core.alerts import Alert

# A night offline queues at most a few dozen (rate limits); a pass sends these, leased for
# lease_seconds, and keeps SQLite's parameter count small.
TAKE_AT_MOST = 100

MIGRATIONS = [
    """
    CREATE TABLE alert_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        message TEXT NOT NULL,
        severity TEXT NOT NULL,
        lasting INTEGER NOT NULL,
        booth TEXT NOT NULL,
        created_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'waiting',
        late INTEGER NOT NULL DEFAULT 0,
        reason TEXT NOT NULL DEFAULT '',
        done_targets TEXT NOT NULL DEFAULT '[]',
        tries INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        lease_owner TEXT,
        lease_until REAL,
        sent_at REAL
    );
    CREATE INDEX alert_outbox_state ON alert_outbox(state, id);
    CREATE INDEX alert_outbox_key ON alert_outbox(key, created_at);
    CREATE INDEX alert_outbox_kind ON alert_outbox(kind, created_at)
    """,
    # When the alert's condition bites (the forecast's run-out time): a deadline twice as near
    # passes the rate limit (alert_routing.admission).
    "ALTER TABLE alert_outbox ADD COLUMN due_at REAL",
    # One phone copy per account (app.core.alert_sender): an account-wide alert another booth
    # sends is kept here as state 'left' (left_to names that booth; left_open while it may yet
    # have to be taken over), and what the phone's copy says about who sent it (note).
    """
    ALTER TABLE alert_outbox ADD COLUMN left_to TEXT NOT NULL DEFAULT '';
    ALTER TABLE alert_outbox ADD COLUMN left_open INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE alert_outbox ADD COLUMN note TEXT NOT NULL DEFAULT ''
    """,
]


class AlertsRepo:
    def __init__(self, db: Database):
        self._db = db
        db.migrate("alerts", MIGRATIONS)

    def add(self, alert: Alert, kind: str, route: Route, booth: str, now: datetime, *,
            left_to: str = "", note: str = "") -> str:
        """Queue one phone alert: 'new', 'repeat' (already queued, nothing written),
        'rate_limited' (written as dropped, with the reason) or, with `left_to`, 'left'
        (written as left to that booth, which sends the account's alerts: it counts for the
        repeat and the rate limit like one this booth sent)."""
        at = now.timestamp()
        with self._db.transaction() as conn:
            same_key = conn.execute("SELECT MAX(created_at) FROM alert_outbox WHERE key = ?",
                                    (alert.key,)).fetchone()[0]
            last = conn.execute(
                "SELECT created_at, due_at FROM alert_outbox WHERE kind = ? AND reason != ?"
                " ORDER BY created_at DESC, id DESC LIMIT 1", (kind, "rate limit")).fetchone()
            verdict = admission(route, from_epoch(same_key),
                                from_epoch(last[0]) if last else None, now,
                                due_at=alert.due_at,
                                last_due_at=from_epoch(last[1]) if last else None)
            if verdict == "repeat":
                return verdict
            dropped = verdict == "rate_limited"
            left = bool(left_to) and not dropped
            state = "dropped" if dropped else "left" if left else "waiting"
            conn.execute(
                "INSERT INTO alert_outbox(key, kind, title, message, severity, lasting, booth,"
                " created_at, state, reason, due_at, left_to, left_open, note)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (alert.key, kind, alert.title, alert.message, alert.severity,
                 int(alert.lasting), booth, at, state,
                 "rate limit" if dropped else f"left to {left_to}" if left else "",
                 to_epoch(alert.due_at), left_to if left else "", int(left), note))
        return "left" if left else verdict

    def seen(self, keys: Sequence[str]) -> set[str]:
        """The keys the outbox has any row for (sent, waiting, dropped or rate-limited)."""
        found: set[str] = set()
        for start in range(0, len(keys), 100):  # SQLite's parameter count stays small
            part = list(keys[start:start + 100])
            found |= {r[0] for r in self._db.query(
                f"SELECT DISTINCT key FROM alert_outbox WHERE key IN ({','.join('?' * len(part))})",
                part)}
        return found

    def admitted(self, key: str) -> bool:
        """Was this alert queued for the phone (not turned away by the rate limit)?"""
        return bool(self._db.query("SELECT 1 FROM alert_outbox WHERE key = ? AND reason != ?"
                                   " LIMIT 1", (key, "rate limit")))

    def take(self, owner: str, now: datetime, lease_seconds: float,
             limit: int = TAKE_AT_MOST) -> list[OutboxAlert]:
        """Lease the waiting rows no one else holds, oldest first (the order they happened);
        at most `limit` per pass, the rest in the next (the retry timer comes back)."""
        at = now.timestamp()
        with self._db.transaction() as conn:
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM alert_outbox WHERE state = 'waiting' AND (lease_until IS NULL"
                " OR lease_until <= ?) ORDER BY id LIMIT ?", (at, limit))]
            for item_id in ids:
                conn.execute("UPDATE alert_outbox SET lease_owner = ?, lease_until = ?"
                             " WHERE id = ?", (owner, at + lease_seconds, item_id))
            return [_row(r) for r in conn.execute(
                f"SELECT * FROM alert_outbox WHERE id IN ({','.join('?' * len(ids))})"
                " ORDER BY id", ids)] if ids else []

    def target_done(self, item_id: int, target_id: str, owner: str) -> None:
        """One URL has the alert: recorded at once, so a retry never repeats it."""
        with self._db.transaction() as conn:
            row = conn.execute("SELECT done_targets FROM alert_outbox WHERE id = ? AND"
                               " lease_owner = ?", (item_id, owner)).fetchone()
            if row is None:
                return
            done = set(json.loads(row[0])) | {target_id}
            conn.execute("UPDATE alert_outbox SET done_targets = ? WHERE id = ?",
                         (json.dumps(sorted(done)), item_id))

    def finish(self, item_id: int, owner: str, state: str, now: datetime, *, late: bool = False,
               reason: str = "") -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE alert_outbox SET state = ?, late = ?, reason = ?, sent_at = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?"
                " AND state = 'waiting'",
                (state, int(late), reason, to_epoch(now) if state == "sent" else None, item_id,
                 owner))

    def release(self, item_id: int, owner: str, error: str) -> None:
        """Not every URL took it: back to waiting, for the next relay pass."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE alert_outbox SET tries = tries + 1, last_error = ?,"
                         " lease_owner = NULL, lease_until = NULL WHERE id = ? AND"
                         " lease_owner = ?", (error[:500], item_id, owner))

    def open_left(self) -> list[OutboxAlert]:
        """Alerts left to another booth that this booth may yet have to take over."""
        return [_row(r) for r in self._db.query(
            "SELECT * FROM alert_outbox WHERE state = 'left' AND left_open = 1 ORDER BY id")]

    def open_left_count(self) -> int:
        return int(self._db.query("SELECT COUNT(*) FROM alert_outbox WHERE state = 'left'"
                                  " AND left_open = 1")[0][0])

    def left_settled(self, item_id: int) -> None:
        """The booth it was left to had it (it stayed online): nothing more to ask."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE alert_outbox SET left_open = 0 WHERE id = ? AND"
                         " state = 'left'", (item_id,))

    def left_moved(self, item_id: int, booth: str) -> None:
        """Another booth sends the account's alerts now (the first one went away)."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE alert_outbox SET left_to = ?, reason = ? WHERE id = ? AND"
                         " state = 'left'", (booth, f"left to {booth}", item_id))

    def take_over(self, item_id: int, note: str) -> None:
        """This booth sends it after all: back to waiting, with why (left_to stays, so
        `alerts` can tell who it was left to)."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE alert_outbox SET state = 'waiting', left_open = 0, reason = '',"
                         " note = ? WHERE id = ? AND state = 'left'", (note, item_id))

    def waiting_count(self) -> int:
        return int(self._db.query("SELECT COUNT(*) FROM alert_outbox WHERE state = 'waiting'"
                                  )[0][0])

    def recent(self, limit: int = 50) -> list[OutboxAlert]:
        """Newest first."""
        return [_row(r) for r in self._db.query(
            "SELECT * FROM alert_outbox ORDER BY id DESC LIMIT ?", (limit,))]


def _row(r: sqlite3.Row) -> OutboxAlert:
    created = from_epoch(r["created_at"])
    assert created is not None
    return OutboxAlert(
        id=r["id"], key=r["key"], kind=r["kind"], title=r["title"], message=r["message"],
        severity=r["severity"], lasting=bool(r["lasting"]), booth=r["booth"],
        created_at=created, state=r["state"], late=bool(r["late"]), reason=r["reason"],
        done_targets=frozenset(json.loads(r["done_targets"])), tries=r["tries"],
        last_error=r["last_error"], sent_at=from_epoch(r["sent_at"]), left_to=r["left_to"],
        note=r["note"])
