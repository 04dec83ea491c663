"""The support-request outbox (component "requests"): one request per money trap, its filings
per channel and channel health, on the shared outbox machinery (outbox.py).

A request is committed, with its idempotency key, before anything is sent, and the trap key it
answers is UNIQUE: however often the rules run, and in however many processes, one request
exists per trap. Every state change is a compare-and-set.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from app.adapters.store.db import Database, from_text, to_text
from app.adapters.store.outbox import Outbox, OutboxTables, from_epoch, to_column, to_epoch
from app.adapters.store.refund_mail_repo import MailOutbox
from app.core.support_requests import TRANSITIONS, RequestStatus, SupportRequest

TABLES = OutboxTables(items="support_requests", filings="support_filings",
                      messages="support_messages", attempts="support_attempts",
                      channels="support_channels", item_col="request_id")

MIGRATIONS = [
    """
    CREATE TABLE support_requests (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        trap_key TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        message TEXT NOT NULL,
        facts TEXT NOT NULL,
        at_risk_cents INTEGER NOT NULL DEFAULT 0,
        idempotency_key TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        hold_until REAL,
        filed_at TEXT,
        channel TEXT,
        remote_id TEXT,
        resolution TEXT,
        credited_entry_id TEXT,
        resolved_at TEXT,
        checked_at REAL,
        screenshot BLOB
    );
    CREATE INDEX support_requests_status ON support_requests(status);
    CREATE TABLE support_filings (
        request_id TEXT NOT NULL REFERENCES support_requests(id),
        channel TEXT NOT NULL,
        state TEXT NOT NULL,
        body TEXT,
        message_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        last_error_kind TEXT,
        owner TEXT,
        lease_until REAL,
        filed_at TEXT,
        remote_id TEXT,
        PRIMARY KEY (request_id, channel)
    );
    CREATE TABLE support_messages (
        message_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        recipient TEXT NOT NULL,
        raw BLOB NOT NULL,
        claim_ids TEXT NOT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        lease_until REAL,
        last_error TEXT
    );
    CREATE TABLE support_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        channel TEXT NOT NULL,
        request_id TEXT,
        message_id TEXT,
        outcome TEXT NOT NULL,
        detail TEXT
    );
    CREATE TABLE support_channels (
        channel TEXT PRIMARY KEY,
        failures INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        last_error TEXT,
        last_error_kind TEXT,
        failing_since TEXT
    )
    """,
    # Which filing made the request 'filed' ("cloud:<pass>" or "email:<Message-ID>"): the
    # batch one "Support asked" notice names, so a notice a crash lost can be told again.
    "ALTER TABLE support_requests ADD COLUMN filed_via TEXT",
]


def request_from_row(row: sqlite3.Row) -> SupportRequest:
    created = from_text(row["created_at"])
    assert created is not None
    return SupportRequest(
        id=row["id"], kind=row["kind"], trap_key=row["trap_key"], title=row["title"],
        message=row["message"], idempotency_key=row["idempotency_key"], created_at=created,
        facts=json.loads(row["facts"]), at_risk_cents=row["at_risk_cents"],
        status=RequestStatus(row["status"]), updated_at=from_text(row["updated_at"]),
        hold_until=from_epoch(row["hold_until"]), filed_at=from_text(row["filed_at"]),
        channel=row["channel"], remote_id=row["remote_id"], resolution=row["resolution"],
        credited_entry_id=row["credited_entry_id"], resolved_at=from_text(row["resolved_at"]),
        screenshot=bytes(row["screenshot"]) if row["screenshot"] is not None else None)


class RequestsRepo(Outbox[SupportRequest]):
    def __init__(self, db: Database):
        super().__init__(db, TABLES, request_from_row)
        db.migrate("requests", MIGRATIONS)
        self.mail: MailOutbox[SupportRequest] = MailOutbox(db, self)

    def add(self, requests: Iterable[SupportRequest]) -> list[SupportRequest]:
        """Commit new requests; one already made for the same trap wins (UNIQUE)."""
        added = []
        with self._db.transaction() as conn:
            for r in requests:
                done = conn.execute(
                    "INSERT OR IGNORE INTO support_requests(id, kind, trap_key, title, message,"
                    " facts, at_risk_cents, idempotency_key, status, created_at, updated_at,"
                    " hold_until) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (r.id, r.kind, r.trap_key, r.title, r.message,
                     json.dumps(dict(r.facts), sort_keys=True), r.at_risk_cents,
                     r.idempotency_key, r.status.value, to_text(r.created_at),
                     to_text(r.updated_at or r.created_at), to_epoch(r.hold_until))).rowcount
                if done:
                    added.append(self.item_row(conn, r.id))
        return added

    def trap_keys(self, statuses: Iterable[RequestStatus] | None = None) -> set[str]:
        return {r.trap_key for r in self.requests(statuses)}

    def requests(self, statuses: Iterable[RequestStatus] | None = None) -> list[SupportRequest]:
        """Oldest first."""
        sql, params = "SELECT * FROM support_requests", []
        if statuses is not None:
            wanted = [s.value for s in statuses] or [""]
            sql += f" WHERE status IN ({','.join('?' * len(wanted))})"
            params = wanted
        return [request_from_row(r) for r in self._db.query(sql + " ORDER BY seq", params)]

    def move(self, request_id: str, to: RequestStatus, at: datetime,
             **changes: Any) -> SupportRequest | None:
        """Compare-and-set along the lifecycle; None if another process moved it first."""
        allowed = [s.value for s, targets in TRANSITIONS.items() if to in targets]
        values = {k: to_column(v) for k, v in changes.items()}
        values.update(status=to.value, updated_at=to_text(at))
        if to in (RequestStatus.RESOLVED, RequestStatus.WITHDRAWN):
            values.setdefault("resolved_at", to_text(at))
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._db.transaction() as conn:
            done = conn.execute(
                f"UPDATE support_requests SET {sets} WHERE id = ?"
                f" AND status IN ({','.join('?' * len(allowed))})",
                (*values.values(), request_id, *allowed)).rowcount
            return self.item_row(conn, request_id) if done else None

    def attempted_ids(self) -> set[str]:
        """Requests a filing was attempted for (a body frozen, a letter stored): they may have
        reached support even if no answer was recorded."""
        return {r[0] for r in self._db.query(
            "SELECT DISTINCT request_id FROM support_filings WHERE body IS NOT NULL OR"
            " message_id IS NOT NULL")}

    def attach_screenshot(self, request_id: str, png: bytes) -> bool:
        """The balance as the tray app renders it, for a dispute not sent yet: it joins the
        request and the request stops waiting for it. False once any body was frozen."""
        with self._db.transaction() as conn:
            frozen = conn.execute("SELECT 1 FROM support_filings WHERE request_id = ? AND"
                                  " (body IS NOT NULL OR message_id IS NOT NULL)",
                                  (request_id,)).fetchone()
            if frozen:
                return False
            return bool(conn.execute(
                "UPDATE support_requests SET screenshot = ?, hold_until = NULL WHERE id = ?"
                " AND status = 'pending'", (png, request_id)).rowcount)

    def wanting_screenshot(self) -> list[SupportRequest]:
        rows = self._db.query("SELECT * FROM support_requests WHERE status = 'pending' AND"
                              " kind = 'balance_dispute' AND screenshot IS NULL AND"
                              " hold_until IS NOT NULL ORDER BY seq")
        return [request_from_row(r) for r in rows]
