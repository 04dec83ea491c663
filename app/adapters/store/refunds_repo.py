"""The refund outbox (component "refunds"): claims, their filings per channel, mail messages.

A claim row, with its filing idempotency key, is committed before anything is sent, and the
ledger entry it names is UNIQUE: however many processes detect the same failed job, one claim
exists. Each filing attempt takes a lease (owner + expiry) inside BEGIN IMMEDIATE, so the tray
app and a command-line run never file the same row at once, and a row whose owner was killed is
taken again when the lease runs out. Every state change is a compare-and-set.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from app.adapters.store.db import Database, from_text, to_text
from app.core.refund_filing import FilingFailure
from app.core.refunds import OPEN, TRANSITIONS, Claim, ClaimStatus, Rule

MIGRATIONS = [
    """
    CREATE TABLE refund_claims (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        ledger_entry_id TEXT NOT NULL UNIQUE,
        rule TEXT NOT NULL,
        feature TEXT NOT NULL,
        amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
        charged_at TEXT NOT NULL,
        reason TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        job_id TEXT,
        cloud_job_id TEXT,
        job_key TEXT,
        submitted_at TEXT,
        failed_at TEXT,
        error TEXT,
        hold_until REAL,
        filed_at TEXT,
        channel TEXT,
        remote_id TEXT,
        resolution TEXT,
        refund_entry_id TEXT UNIQUE,
        refunded_cents INTEGER,
        refunded_at TEXT,
        checked_at REAL
    );
    CREATE INDEX refund_claims_status ON refund_claims(status);
    CREATE TABLE refund_filings (
        claim_id TEXT NOT NULL REFERENCES refund_claims(id),
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
        PRIMARY KEY (claim_id, channel)
    );
    CREATE TABLE refund_messages (
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
    CREATE TABLE refund_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        channel TEXT NOT NULL,
        claim_id TEXT,
        message_id TEXT,
        outcome TEXT NOT NULL,
        detail TEXT
    );
    CREATE TABLE refund_channels (
        channel TEXT PRIMARY KEY,
        failures INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        last_error TEXT,
        last_error_kind TEXT,
        failing_since TEXT
    )
    """,
]

_OPEN = tuple(s.value for s in OPEN)
_OPEN_SQL = ",".join(f"'{s}'" for s in _OPEN)


@dataclass(frozen=True)
class ChannelState:
    failures: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    last_error_kind: str | None = None


@dataclass(frozen=True)
class Message:
    message_id: str
    recipient: str
    raw: bytes
    claim_ids: tuple[str, ...]
    attempts: int


class RefundsRepo:
    def __init__(self, db: Database):
        self._db = db
        db.migrate("refunds", MIGRATIONS)

    # -- claims -------------------------------------------------------------------------------

    def add(self, claims: Iterable[Claim]) -> list[Claim]:
        """Commit new claims; one already made for the same ledger entry wins (UNIQUE)."""
        added = []
        with self._db.transaction() as conn:
            for c in claims:
                done = conn.execute(
                    "INSERT OR IGNORE INTO refund_claims(id, ledger_entry_id, rule, feature,"
                    " amount_cents, charged_at, reason, idempotency_key, status, created_at,"
                    " updated_at, job_id, cloud_job_id, job_key, submitted_at, failed_at, error,"
                    " hold_until) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (c.id, c.ledger_entry_id, c.rule.value, c.feature, c.amount_cents,
                     to_text(c.charged_at), c.reason, c.idempotency_key, c.status.value,
                     to_text(c.created_at), to_text(c.updated_at or c.created_at), c.job_id,
                     c.cloud_job_id, c.job_key, to_text(c.submitted_at), to_text(c.failed_at),
                     c.error, _epoch(c.hold_until))).rowcount
                if done:
                    added.append(_get(conn, c.id))
        return added

    def claimed_entry_ids(self) -> set[str]:
        return {r[0] for r in self._db.query("SELECT ledger_entry_id FROM refund_claims")}

    def used_refund_entry_ids(self) -> set[str]:
        return {r[0] for r in self._db.query(
            "SELECT refund_entry_id FROM refund_claims WHERE refund_entry_id IS NOT NULL")}

    def get(self, claim_id: str) -> Claim | None:
        rows = self._db.query("SELECT * FROM refund_claims WHERE id = ?", (claim_id,))
        return _claim(rows[0]) if rows else None

    def claims(self, statuses: Iterable[ClaimStatus] | None = None,
               since: datetime | None = None) -> list[Claim]:
        """Oldest first."""
        where, params = [], []
        if statuses is not None:
            wanted = [s.value for s in statuses] or [""]
            where.append(f"status IN ({','.join('?' * len(wanted))})")
            params += wanted
        if since is not None:
            where.append("charged_at >= ?")
            params.append(to_text(since))
        sql = "SELECT * FROM refund_claims" + (" WHERE " + " AND ".join(where) if where else "")
        return [_claim(r) for r in self._db.query(sql + " ORDER BY seq", params)]

    def move(self, claim_id: str, to: ClaimStatus, at: datetime, **changes: Any) -> Claim | None:
        """Compare-and-set along the lifecycle; None if the claim is not where it could move
        from (another process moved it first, or the move is not allowed)."""
        allowed = [s.value for s, targets in TRANSITIONS.items() if to in targets]
        values = {k: _column(v) for k, v in changes.items()}
        values.update(status=to.value, updated_at=to_text(at))
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._db.transaction() as conn:
            done = conn.execute(
                f"UPDATE refund_claims SET {sets} WHERE id = ?"
                f" AND status IN ({','.join('?' * len(allowed))})",
                (*values.values(), claim_id, *allowed)).rowcount
            return _get(conn, claim_id) if done else None

    def checked(self, claim_id: str, at: datetime) -> None:
        with self._db.transaction() as conn:
            conn.execute("UPDATE refund_claims SET checked_at = ? WHERE id = ?",
                         (at.timestamp(), claim_id))

    def to_follow(self, now: datetime, every_seconds: float) -> list[Claim]:
        """Claims the cloud holds and has not decided, not asked about for a while."""
        rows = self._db.query(
            "SELECT * FROM refund_claims WHERE remote_id IS NOT NULL AND status IN"
            " ('filed', 'acknowledged') AND (checked_at IS NULL OR checked_at <= ?)"
            " ORDER BY seq", (now.timestamp() - every_seconds,))
        return [_claim(r) for r in rows]

    # -- filings ------------------------------------------------------------------------------

    def ensure_filings(self, channels: Sequence[str], at: datetime) -> None:
        """Claims not filed anywhere yet follow the current channel choice; filed ones keep
        the channels they were filed by (changing Settings never files a claim again)."""
        if not channels:
            return
        with self._db.transaction() as conn:
            pending = [r[0] for r in conn.execute(
                "SELECT id FROM refund_claims WHERE status = 'pending'")]
            for claim_id in pending:
                for channel in channels:
                    conn.execute("INSERT OR IGNORE INTO refund_filings(claim_id, channel, state)"
                                 " VALUES (?, ?, 'pending')", (claim_id, channel))
                conn.execute("UPDATE refund_claims SET channel = ? WHERE id = ?",
                             ("+".join(sorted(channels)), claim_id))

    def take_cloud_filing(self, owner: str, now: datetime, lease_seconds: float
                          ) -> tuple[Claim, str | None] | None:
        """Lease the oldest due cloud filing: (claim, the body as first sent, if it was)."""
        t = now.timestamp()
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT f.claim_id, f.body FROM refund_filings f JOIN refund_claims c"
                " ON c.id = f.claim_id WHERE f.channel = 'cloud' AND f.state = 'pending'"
                f" AND c.status IN ({_OPEN_SQL}) AND (c.hold_until IS NULL OR c.hold_until <= ?)"
                " AND (f.owner IS NULL OR f.lease_until < ?) ORDER BY c.seq LIMIT 1",
                (t, t)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE refund_filings SET owner = ?, lease_until = ?,"
                         " attempts = attempts + 1 WHERE claim_id = ? AND channel = 'cloud'",
                         (owner, t + lease_seconds, row["claim_id"]))
            return _get(conn, row["claim_id"]), row["body"]

    def freeze_body(self, claim_id: str, body: str) -> str:
        """Store the cloud request at its first attempt; later attempts get that one back."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE refund_filings SET body = COALESCE(body, ?)"
                         " WHERE claim_id = ? AND channel = 'cloud'", (body, claim_id))
            return str(conn.execute("SELECT body FROM refund_filings WHERE claim_id = ? AND"
                                    " channel = 'cloud'", (claim_id,)).fetchone()[0])

    def filing_done(self, claim_id: str, channel: str, owner: str, at: datetime,
                    remote_id: str | None = None) -> Claim | None:
        """The channel accepted the claim. Returns the claim if this made it 'filed'."""
        with self._db.transaction() as conn:
            done = conn.execute(
                "UPDATE refund_filings SET state = 'filed', filed_at = ?, remote_id = ?,"
                " owner = NULL, lease_until = NULL, last_error = NULL, last_error_kind = NULL"
                " WHERE claim_id = ? AND channel = ? AND state = 'pending' AND owner IS ?",
                (to_text(at), remote_id, claim_id, channel, owner)).rowcount
            if not done:
                return None
            _record(conn, at, channel, "filed", remote_id or "", claim_id=claim_id)
            # The answer just told us where the request stands: no need to ask again at once.
            conn.execute("UPDATE refund_claims SET checked_at = ? WHERE id = ?",
                         (at.timestamp(), claim_id))
            return _mark_filed(conn, claim_id, at, remote_id)

    def filing_failed(self, claim_id: str, channel: str, owner: str, at: datetime,
                      failure: FilingFailure) -> None:
        state = "refused" if failure.claim_refused else "pending"
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE refund_filings SET state = ?, last_error = ?, last_error_kind = ?,"
                " owner = NULL, lease_until = NULL WHERE claim_id = ? AND channel = ?"
                " AND owner IS ?", (state, failure.message, failure.kind, claim_id, channel,
                                    owner))
            _record(conn, at, channel, state if failure.claim_refused else "failed",
                    f"{failure.kind}: {failure.message}", claim_id=claim_id)

    def record_attempt(self, channel: str, at: datetime, outcome: str, detail: str = "", *,
                       claim_id: str | None = None, message_id: str | None = None) -> None:
        with self._db.transaction() as conn:
            _record(conn, at, channel, outcome, detail, claim_id=claim_id,
                    message_id=message_id)

    def attempts(self, claim_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM refund_attempts"
        rows = self._db.query(sql + (" WHERE claim_id = ? OR message_id IN (SELECT message_id"
                                     " FROM refund_filings WHERE claim_id = ?)" if claim_id
                                     else "") + " ORDER BY id",
                              (claim_id, claim_id) if claim_id else ())
        return [dict(r) for r in rows]

    def waiting(self, channel: str) -> int:
        """Open claims this channel has not filed yet."""
        return int(self._db.query(
            "SELECT COUNT(*) FROM refund_filings f JOIN refund_claims c ON c.id = f.claim_id"
            f" WHERE f.channel = ? AND f.state = 'pending' AND c.status IN ({_OPEN_SQL})",
            (channel,))[0][0])

    # -- email --------------------------------------------------------------------------------

    def unsent_email_claims(self, now: datetime) -> list[Claim]:
        rows = self._db.query(
            "SELECT c.* FROM refund_filings f JOIN refund_claims c ON c.id = f.claim_id"
            " WHERE f.channel = 'email' AND f.state = 'pending' AND f.message_id IS NULL"
            f" AND c.status IN ({_OPEN_SQL}) AND (c.hold_until IS NULL OR c.hold_until <= ?)"
            " ORDER BY c.seq", (now.timestamp(),))
        return [_claim(r) for r in rows]

    def open_message(self, message_id: str, recipient: str, raw: bytes,
                     claim_ids: Sequence[str], owner: str, now: datetime,
                     lease_seconds: float) -> bool:
        """Record the message as 'sending', with its claims, before any SMTP. False if another
        process took one of these claims meanwhile (nothing is written then)."""
        with self._db.transaction() as conn:
            marks = ",".join("?" * len(claim_ids))
            free = conn.execute(
                f"SELECT COUNT(*) FROM refund_filings WHERE channel = 'email' AND state ="
                f" 'pending' AND message_id IS NULL AND claim_id IN ({marks})",
                tuple(claim_ids)).fetchone()[0]
            if free != len(claim_ids):
                return False
            conn.execute(
                "INSERT INTO refund_messages(message_id, state, recipient, raw, claim_ids,"
                " created_at, attempts, owner, lease_until) VALUES (?, 'sending', ?, ?, ?, ?, 1,"
                " ?, ?)", (message_id, recipient, raw, json.dumps(list(claim_ids)), to_text(now),
                           owner, now.timestamp() + lease_seconds))
            conn.execute(f"UPDATE refund_filings SET message_id = ?, attempts = attempts + 1"
                         f" WHERE channel = 'email' AND claim_id IN ({marks})",
                         (message_id, *claim_ids))
            _record(conn, now, "email", "sending", recipient, message_id=message_id)
            return True

    def take_unsent_message(self, owner: str, now: datetime, lease_seconds: float
                            ) -> Message | None:
        """A message left 'sending' (its sender crashed, or did not learn whether the server
        took it): lease it to send again, byte for byte, with the same Message-ID."""
        t = now.timestamp()
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM refund_messages WHERE state = 'sending' AND (owner IS NULL OR"
                " lease_until < ?) ORDER BY created_at LIMIT 1", (t,)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE refund_messages SET owner = ?, lease_until = ?,"
                         " attempts = attempts + 1 WHERE message_id = ?",
                         (owner, t + lease_seconds, row["message_id"]))
            _record(conn, now, "email", "sending again", row["recipient"],
                    message_id=row["message_id"])
            return Message(row["message_id"], row["recipient"], bytes(row["raw"]),
                           tuple(json.loads(row["claim_ids"])), row["attempts"] + 1)

    def message_sent(self, message_id: str, owner: str, at: datetime) -> list[Claim]:
        """The server accepted the message. Returns the claims this made 'filed'."""
        with self._db.transaction() as conn:
            done = conn.execute(
                "UPDATE refund_messages SET state = 'sent', sent_at = ?, owner = NULL,"
                " lease_until = NULL, last_error = NULL WHERE message_id = ? AND state ="
                " 'sending' AND owner IS ?", (to_text(at), message_id, owner)).rowcount
            if not done:
                return []
            ids = [r[0] for r in conn.execute(
                "SELECT claim_id FROM refund_filings WHERE message_id = ? AND state ="
                " 'pending'", (message_id,))]
            conn.execute("UPDATE refund_filings SET state = 'filed', filed_at = ?,"
                         " last_error = NULL, last_error_kind = NULL WHERE message_id = ?",
                         (to_text(at), message_id))
            _record(conn, at, "email", "sent", "", message_id=message_id)
            filed = [_mark_filed(conn, claim_id, at, None) for claim_id in ids]
            return [c for c in filed if c is not None]

    def message_failed(self, message_id: str, owner: str, at: datetime,
                       failure: FilingFailure, *, maybe_sent: bool) -> None:
        """Not accepted. When it surely did not go out, its claims are freed to join the next
        message; when it may have, it stays 'sending' and goes again unchanged."""
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE refund_messages SET state = ?, owner = NULL, lease_until = NULL,"
                " last_error = ? WHERE message_id = ? AND state = 'sending' AND owner IS ?",
                ("sending" if maybe_sent else "failed", failure.message, message_id, owner))
            conn.execute(
                "UPDATE refund_filings SET last_error = ?, last_error_kind = ?"
                + ("" if maybe_sent else ", message_id = NULL")
                + " WHERE message_id = ? AND state = 'pending'",
                (failure.message, failure.kind, message_id))
            _record(conn, at, "email", "maybe sent" if maybe_sent else "failed",
                    f"{failure.kind}: {failure.message}", message_id=message_id)

    def messages(self) -> list[dict[str, Any]]:
        rows = self._db.query("SELECT message_id, state, recipient, claim_ids, created_at,"
                              " sent_at, attempts, last_error FROM refund_messages"
                              " ORDER BY created_at")
        return [dict(r) for r in rows]

    # -- channel health -----------------------------------------------------------------------

    def channel_state(self, channel: str) -> ChannelState:
        rows = self._db.query("SELECT * FROM refund_channels WHERE channel = ?", (channel,))
        if not rows:
            return ChannelState()
        r = rows[0]
        return ChannelState(r["failures"], _from_epoch(r["next_attempt_at"]), r["last_error"],
                            r["last_error_kind"])

    def channel_failed(self, channel: str, at: datetime, failure: FilingFailure,
                       next_attempt_at: datetime) -> int:
        """Record a failure; returns how many in a row."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO refund_channels(channel, failures, next_attempt_at, last_error,"
                " last_error_kind, failing_since) VALUES (?, 1, ?, ?, ?, ?)"
                " ON CONFLICT(channel) DO UPDATE SET failures = failures + 1,"
                " next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error,"
                " last_error_kind = excluded.last_error_kind,"
                " failing_since = COALESCE(failing_since, excluded.failing_since)",
                (channel, next_attempt_at.timestamp(), failure.message, failure.kind,
                 to_text(at)))
            return int(conn.execute("SELECT failures FROM refund_channels WHERE channel = ?",
                                    (channel,)).fetchone()[0])

    def channel_ok(self, channel: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM refund_channels WHERE channel = ?", (channel,))

    def reset_channels(self) -> None:
        """After a Settings change: try every channel again now (the problem may be fixed)."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE refund_channels SET next_attempt_at = NULL")


# -- rows -----------------------------------------------------------------------------------------


def _mark_filed(conn: sqlite3.Connection, claim_id: str, at: datetime,
                remote_id: str | None) -> Claim | None:
    conn.execute("UPDATE refund_claims SET remote_id = COALESCE(remote_id, ?) WHERE id = ?",
                 (remote_id, claim_id))
    done = conn.execute("UPDATE refund_claims SET status = 'filed', filed_at = ?, updated_at = ?"
                        " WHERE id = ? AND status = 'pending'",
                        (to_text(at), to_text(at), claim_id)).rowcount
    return _get(conn, claim_id) if done else None


def _record(conn: sqlite3.Connection, at: datetime, channel: str, outcome: str, detail: str,
            *, claim_id: str | None = None, message_id: str | None = None) -> None:
    conn.execute("INSERT INTO refund_attempts(at, channel, claim_id, message_id, outcome, detail)"
                 " VALUES (?,?,?,?,?,?)", (to_text(at), channel, claim_id, message_id, outcome,
                                           detail[:2000]))


def _column(value: Any) -> Any:
    return to_text(value) if isinstance(value, datetime) else value


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def _get(conn: sqlite3.Connection, claim_id: str) -> Claim:
    return _claim(conn.execute("SELECT * FROM refund_claims WHERE id = ?", (claim_id,)
                               ).fetchone())


def _claim(row: sqlite3.Row) -> Claim:
    charged = from_text(row["charged_at"])
    created = from_text(row["created_at"])
    assert charged is not None and created is not None
    return Claim(
        id=row["id"], ledger_entry_id=row["ledger_entry_id"], rule=Rule(row["rule"]),
        feature=row["feature"], amount_cents=row["amount_cents"], charged_at=charged,
        reason=row["reason"], idempotency_key=row["idempotency_key"], created_at=created,
        status=ClaimStatus(row["status"]), job_id=row["job_id"],
        cloud_job_id=row["cloud_job_id"], job_key=row["job_key"],
        submitted_at=from_text(row["submitted_at"]), failed_at=from_text(row["failed_at"]),
        error=row["error"], hold_until=_from_epoch(row["hold_until"]),
        updated_at=from_text(row["updated_at"]), filed_at=from_text(row["filed_at"]),
        channel=row["channel"], remote_id=row["remote_id"], resolution=row["resolution"],
        refund_entry_id=row["refund_entry_id"], refunded_cents=row["refunded_cents"],
        refunded_at=from_text(row["refunded_at"]),
    )
