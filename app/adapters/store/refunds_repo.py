"""The refund outbox (component "refunds"): claims, their filings per channel, channel health.

A claim row, with its filing idempotency key, is committed before anything is sent, and the
ledger entry it names is UNIQUE: however many processes detect the same failed job, one claim
exists. Each filing attempt takes a lease (owner + expiry) inside BEGIN IMMEDIATE, so the tray
app and a command-line run never file the same row at once, and a row whose owner was killed is
taken again when the lease runs out. Every state change is a compare-and-set. The email side
(one message per batch of claims) is `self.mail`, in refund_mail_repo.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from app.adapters.store.db import Database, to_text
from app.adapters.store.refund_mail_repo import MailOutbox
from app.adapters.store.refund_rows import (
    MIGRATIONS,
    OPEN_SQL,
    claim_from_row,
    from_epoch,
    get_claim,
    mark_filed,
    record_attempt_row,
    to_column,
    to_epoch,
)
from app.core.refund_filing import FilingFailure
from app.core.refunds import TRANSITIONS, Claim, ClaimStatus


@dataclass(frozen=True)
class ChannelState:
    failures: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    last_error_kind: str | None = None


class RefundsRepo:
    def __init__(self, db: Database):
        self._db = db
        db.migrate("refunds", MIGRATIONS)
        self.mail = MailOutbox(db)
        self._name_photos()

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
                    " hold_until, photo) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (c.id, c.ledger_entry_id, c.rule.value, c.feature, c.amount_cents,
                     to_text(c.charged_at), c.reason, c.idempotency_key, c.status.value,
                     to_text(c.created_at), to_text(c.updated_at or c.created_at), c.job_id,
                     c.cloud_job_id, c.job_key, to_text(c.submitted_at), to_text(c.failed_at),
                     c.error, to_epoch(c.hold_until), c.photo)).rowcount
                if done:
                    added.append(get_claim(conn, c.id))
        return added

    def _name_photos(self) -> None:
        """Claims made before claims named their photo get it from the job queue (once)."""
        with self._db.transaction() as conn:
            has_jobs = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                                    " AND name = 'jobs'").fetchone()
            if not has_jobs:
                return
            for claim_id, path in conn.execute(
                    "SELECT c.id, j.source_path FROM refund_claims c JOIN jobs j"
                    " ON j.id = c.job_id WHERE c.photo IS NULL").fetchall():
                conn.execute("UPDATE refund_claims SET photo = ? WHERE id = ?",
                             (PurePath(path).name, claim_id))

    def claimed_entry_ids(self) -> set[str]:
        return {r[0] for r in self._db.query("SELECT ledger_entry_id FROM refund_claims")}

    def used_refund_entry_ids(self) -> set[str]:
        return {r[0] for r in self._db.query(
            "SELECT refund_entry_id FROM refund_claims WHERE refund_entry_id IS NOT NULL")}

    def get(self, claim_id: str) -> Claim | None:
        rows = self._db.query("SELECT * FROM refund_claims WHERE id = ?", (claim_id,))
        return claim_from_row(rows[0]) if rows else None

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
        return [claim_from_row(r) for r in self._db.query(sql + " ORDER BY seq", params)]

    def move(self, claim_id: str, to: ClaimStatus, at: datetime, **changes: Any) -> Claim | None:
        """Compare-and-set along the lifecycle; None if the claim is not where it could move
        from (another process moved it first, or the move is not allowed)."""
        allowed = [s.value for s, targets in TRANSITIONS.items() if to in targets]
        values = {k: to_column(v) for k, v in changes.items()}
        values.update(status=to.value, updated_at=to_text(at))
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._db.transaction() as conn:
            done = conn.execute(
                f"UPDATE refund_claims SET {sets} WHERE id = ?"
                f" AND status IN ({','.join('?' * len(allowed))})",
                (*values.values(), claim_id, *allowed)).rowcount
            return get_claim(conn, claim_id) if done else None

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
        return [claim_from_row(r) for r in rows]

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
                f" AND c.status IN ({OPEN_SQL}) AND (c.hold_until IS NULL OR c.hold_until <= ?)"
                " AND (f.owner IS NULL OR f.lease_until < ?) ORDER BY c.seq LIMIT 1",
                (t, t)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE refund_filings SET owner = ?, lease_until = ?,"
                         " attempts = attempts + 1 WHERE claim_id = ? AND channel = 'cloud'",
                         (owner, t + lease_seconds, row["claim_id"]))
            return get_claim(conn, row["claim_id"]), row["body"]

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
            record_attempt_row(conn, at, channel, "filed", remote_id or "", claim_id=claim_id)
            # The answer just told us where the request stands: no need to ask again at once.
            conn.execute("UPDATE refund_claims SET checked_at = ? WHERE id = ?",
                         (at.timestamp(), claim_id))
            return mark_filed(conn, claim_id, at, remote_id)

    def filing_failed(self, claim_id: str, channel: str, owner: str, at: datetime,
                      failure: FilingFailure) -> None:
        state = "refused" if failure.claim_refused else "pending"
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE refund_filings SET state = ?, last_error = ?, last_error_kind = ?,"
                " owner = NULL, lease_until = NULL WHERE claim_id = ? AND channel = ?"
                " AND owner IS ?", (state, failure.message, failure.kind, claim_id, channel,
                                    owner))
            record_attempt_row(conn, at, channel, state if failure.claim_refused else "failed",
                    f"{failure.kind}: {failure.message}", claim_id=claim_id)

    def record_attempt(self, channel: str, at: datetime, outcome: str, detail: str = "", *,
                       claim_id: str | None = None, message_id: str | None = None) -> None:
        with self._db.transaction() as conn:
            record_attempt_row(conn, at, channel, outcome, detail, claim_id=claim_id,
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
            f" WHERE f.channel = ? AND f.state = 'pending' AND c.status IN ({OPEN_SQL})",
            (channel,))[0][0])

    # -- channel health -----------------------------------------------------------------------

    def channel_state(self, channel: str) -> ChannelState:
        rows = self._db.query("SELECT * FROM refund_channels WHERE channel = ?", (channel,))
        if not rows:
            return ChannelState()
        r = rows[0]
        return ChannelState(r["failures"], from_epoch(r["next_attempt_at"]), r["last_error"],
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
