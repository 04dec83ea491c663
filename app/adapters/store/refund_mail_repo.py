"""The outbox's email side: one MIME message per batch of items, recorded before SMTP.

A message is written with its items (refund claims, or one support request) in state 'sending'
before the SMTP session starts; one that stays 'sending' (the sender was killed, or never
learnt whether the server took it) goes again byte for byte with the same Message-ID, so
support sees one letter however often it is re-sent. The tables are the owning Outbox's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic

from app.adapters.store.db import Database, to_text
from app.adapters.store.outbox import OPEN_SQL, Outbox, T
from app.core.refund_filing import FilingFailure


@dataclass(frozen=True)
class Message:
    message_id: str
    recipient: str
    raw: bytes
    claim_ids: tuple[str, ...]
    attempts: int


class MailOutbox(Generic[T]):
    """Lives beside its Outbox (whose owner migrates the schema) on the same Database."""

    def __init__(self, db: Database, outbox: Outbox[T]):
        self._db = db
        self._box = outbox
        self._t = outbox.tables

    def unsent_items(self, now: datetime) -> list[T]:
        t = self._t
        rows = self._db.query(
            f"SELECT c.* FROM {t.filings} f JOIN {t.items} c ON c.id = f.{t.item_col}"
            " WHERE f.channel = 'email' AND f.state = 'pending' AND f.message_id IS NULL"
            f" AND c.status IN ({OPEN_SQL}) AND (c.hold_until IS NULL OR c.hold_until <= ?)"
            " ORDER BY c.seq", (now.timestamp(),))
        return [self._box.from_row(r) for r in rows]

    unsent_email_claims = unsent_items

    def open_message(self, message_id: str, recipient: str, raw: bytes,
                     claim_ids: Sequence[str], owner: str, now: datetime,
                     lease_seconds: float) -> bool:
        """Record the message as 'sending', with its items, before any SMTP. False if another
        process took one of these items meanwhile (nothing is written then)."""
        t = self._t
        with self._db.transaction() as conn:
            marks = ",".join("?" * len(claim_ids))
            free = conn.execute(
                f"SELECT COUNT(*) FROM {t.filings} WHERE channel = 'email' AND state ="
                f" 'pending' AND message_id IS NULL AND {t.item_col} IN ({marks})",
                tuple(claim_ids)).fetchone()[0]
            if free != len(claim_ids):
                return False
            conn.execute(
                f"INSERT INTO {t.messages}(message_id, state, recipient, raw, claim_ids,"
                " created_at, attempts, owner, lease_until) VALUES (?, 'sending', ?, ?, ?, ?, 1,"
                " ?, ?)", (message_id, recipient, raw, json.dumps(list(claim_ids)), to_text(now),
                           owner, now.timestamp() + lease_seconds))
            conn.execute(f"UPDATE {t.filings} SET message_id = ?, attempts = attempts + 1"
                         f" WHERE channel = 'email' AND {t.item_col} IN ({marks})",
                         (message_id, *claim_ids))
            self._box.record_attempt_row(conn, now, "email", "sending", recipient,
                                         message_id=message_id)
            return True

    def take_unsent_message(self, owner: str, now: datetime, lease_seconds: float
                            ) -> Message | None:
        """A message left 'sending' (its sender crashed, or did not learn whether the server
        took it): lease it to send again, byte for byte, with the same Message-ID."""
        tm, messages = now.timestamp(), self._t.messages
        with self._db.transaction() as conn:
            row = conn.execute(
                f"SELECT * FROM {messages} WHERE state = 'sending' AND (owner IS NULL OR"
                " lease_until < ?) ORDER BY created_at LIMIT 1", (tm,)).fetchone()
            if row is None:
                return None
            conn.execute(f"UPDATE {messages} SET owner = ?, lease_until = ?,"
                         " attempts = attempts + 1 WHERE message_id = ?",
                         (owner, tm + lease_seconds, row["message_id"]))
            self._box.record_attempt_row(conn, now, "email", "sending again", row["recipient"],
                                         message_id=row["message_id"])
            return Message(row["message_id"], row["recipient"], bytes(row["raw"]),
                           tuple(json.loads(row["claim_ids"])), row["attempts"] + 1)

    def message_sent(self, message_id: str, owner: str, at: datetime) -> list[T]:
        """The server accepted the message. Returns the items this made 'filed'."""
        t = self._t
        with self._db.transaction() as conn:
            done = conn.execute(
                f"UPDATE {t.messages} SET state = 'sent', sent_at = ?, owner = NULL,"
                " lease_until = NULL, last_error = NULL WHERE message_id = ? AND state ="
                " 'sending' AND owner IS ?", (to_text(at), message_id, owner)).rowcount
            if not done:
                return []
            ids = [r[0] for r in conn.execute(
                f"SELECT {t.item_col} FROM {t.filings} WHERE message_id = ? AND state ="
                " 'pending'", (message_id,))]
            conn.execute(f"UPDATE {t.filings} SET state = 'filed', filed_at = ?,"
                         " last_error = NULL, last_error_kind = NULL WHERE message_id = ?",
                         (to_text(at), message_id))
            self._box.record_attempt_row(conn, at, "email", "sent", "", message_id=message_id)
            filed = [self._box.mark_filed(conn, item_id, at, None, f"email:{message_id}")
                     for item_id in ids]
            return [c for c in filed if c is not None]

    def message_failed(self, message_id: str, owner: str, at: datetime,
                       failure: FilingFailure, *, maybe_sent: bool) -> None:
        """Not accepted. When it surely did not go out, its items are freed to join the next
        message; when it may have, it stays 'sending' and goes again unchanged."""
        t = self._t
        with self._db.transaction() as conn:
            conn.execute(
                f"UPDATE {t.messages} SET state = ?, owner = NULL, lease_until = NULL,"
                " last_error = ? WHERE message_id = ? AND state = 'sending' AND owner IS ?",
                ("sending" if maybe_sent else "failed", failure.message, message_id, owner))
            conn.execute(
                f"UPDATE {t.filings} SET last_error = ?, last_error_kind = ?"
                + ("" if maybe_sent else ", message_id = NULL")
                + " WHERE message_id = ? AND state = 'pending'",
                (failure.message, failure.kind, message_id))
            self._box.record_attempt_row(conn, at, "email",
                                         "maybe sent" if maybe_sent else "failed",
                                         f"{failure.kind}: {failure.message}",
                                         message_id=message_id)

    def messages(self) -> list[dict[str, Any]]:
        rows = self._db.query("SELECT message_id, state, recipient, claim_ids, created_at,"
                              f" sent_at, attempts, last_error FROM {self._t.messages}"
                              " ORDER BY created_at")
        return [dict(r) for r in rows]
