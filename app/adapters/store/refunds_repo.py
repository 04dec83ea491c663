"""The refund outbox (component "refunds"): claims, their filings per channel, channel health.

A claim row, with its filing idempotency key, is committed before anything is sent, and the
ledger entry it names is UNIQUE: however many processes detect the same failed job, one claim
exists. Leasing, the frozen cloud body, compare-and-set filing and channel health are the
shared outbox machinery (outbox.py, also behind support requests); the email side (one message
per batch of claims) is `self.mail`, in refund_mail_repo.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import PurePath
from typing import Any

from app.adapters.store.db import Database, to_text
from app.adapters.store.outbox import ChannelState, Outbox, to_column, to_epoch
from app.adapters.store.refund_mail_repo import MailOutbox
from app.adapters.store.refund_rows import MIGRATIONS, REFUND_TABLES, claim_from_row
from app.core.refunds import TRANSITIONS, Claim, ClaimStatus

__all__ = ["ChannelState", "RefundsRepo"]


class RefundsRepo(Outbox[Claim]):
    def __init__(self, db: Database):
        super().__init__(db, REFUND_TABLES, claim_from_row)
        db.migrate("refunds", MIGRATIONS)
        self.mail: MailOutbox[Claim] = MailOutbox(db, self)
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
                    added.append(self.item_row(conn, c.id))
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
            return self.item_row(conn, claim_id) if done else None
