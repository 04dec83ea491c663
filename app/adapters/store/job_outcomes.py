"""The refund rules' view of the job queue (app.core.refunds.JobRecords), read-only SQL.

The only file that knows the job queue's tables (owned by app.adapters.store.jobs_repo): when they
change, this changes. Timestamps come from the job's history rows, which the queue writes in the
same transaction as each state change: the first upload start is "submitted", the last move to
failed or given up is "failed". Where the queue knows the cloud's own times for the job (its
acceptance, its failure), those are used instead: a refund request then cites one clock, the
cloud's, like the ledger it points at.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import PurePath

from app.adapters.store.db import Database, from_text, to_text
from app.core.refunds import Ending, JobOutcome

_SELECT = """
SELECT j.id, j.feature, j.state, j.idempotency_key, j.created_at, j.cloud_job_id, j.source_path,
       j.charged_cents, j.last_error, j.finished_at, {cloud_columns},
       (SELECT MIN(e.at) FROM job_events e
         WHERE e.job_id = j.id AND e.to_state = 'sending') AS submitted_at,
       (SELECT e.at FROM job_events e WHERE e.job_id = j.id
         AND e.to_state IN ('failed', 'given_up') ORDER BY e.id DESC LIMIT 1) AS failed_at,
       (SELECT e.from_state FROM job_events e WHERE e.job_id = j.id
         AND e.to_state = 'removed' ORDER BY e.id DESC LIMIT 1) AS removed_from
FROM jobs j
"""
# Columns of a newer queue (jobs migration 5); a store the queue has not upgraded yet (the refund
# relay can open it first) reads them as empty.
_CLOUD_COLUMNS = ("cloud_created_at", "cloud_ended_at", "follow_up")

_ENDINGS = {
    "succeeded": Ending.DELIVERED,
    "failed": Ending.FAILED,
    "given_up": Ending.GIVEN_UP,
}


class QueueJobRecords:
    def __init__(self, db: Database):
        self._db = db

    def outcomes_since(self, since: datetime) -> list[JobOutcome]:
        if not self._has_queue():
            return []  # no job was ever queued on this PC
        rows = self._db.query(self._select() + " WHERE j.created_at >= ? ORDER BY j.seq",
                              (to_text(since),))
        return [_outcome(r) for r in rows]

    def outcome(self, job_id: str) -> JobOutcome | None:
        if not self._has_queue():
            return None
        rows = self._db.query(self._select() + " WHERE j.id = ?", (job_id,))
        return _outcome(rows[0]) if rows else None

    def _select(self) -> str:
        have = {r[1] for r in self._db.query("PRAGMA table_info(jobs)")}
        return _SELECT.format(cloud_columns=", ".join(
            f"j.{c}" if c in have else f"NULL AS {c}" for c in _CLOUD_COLUMNS))

    def _has_queue(self) -> bool:
        return bool(self._db.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"))


def _outcome(row: sqlite3.Row) -> JobOutcome:
    state = row["state"]
    if state == "removed":
        # Taken off the list after it ended: it ended the way it did before.
        ending = _ENDINGS.get(row["removed_from"] or "", Ending.REMOVED)
    elif state == "given_up" and row["follow_up"]:
        # Given up waiting, but the cloud has the job and is still asked about it: it may yet
        # deliver (then its charge is not claimed) or fail (then it is, as a failure).
        ending = Ending.OPEN
    else:
        ending = _ENDINGS.get(state, Ending.OPEN)
    ended = None
    if ending in (Ending.FAILED, Ending.GIVEN_UP):
        ended = (from_text(row["cloud_ended_at"]) or from_text(row["failed_at"])
                 or from_text(row["finished_at"]))
    elif ending is Ending.DELIVERED:
        ended = from_text(row["finished_at"])
    created = from_text(row["created_at"])
    assert created is not None
    return JobOutcome(
        job_id=row["id"], feature=row["feature"], ending=ending,
        idempotency_key=row["idempotency_key"], created_at=created,
        cloud_job_id=row["cloud_job_id"],
        submitted_at=from_text(row["cloud_created_at"]) or from_text(row["submitted_at"]),
        ended_at=ended, charged_cents=row["charged_cents"], error=row["last_error"],
        photo=PurePath(row["source_path"]).name,
    )
