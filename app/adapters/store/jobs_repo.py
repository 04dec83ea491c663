"""The durable job queue (component "jobs"): jobs, their history, and the queue's pause state.

Claims take a lease (owner id + expiry) inside BEGIN IMMEDIATE, so the tray app and a command-line
run on the same file never take the same job, and a job whose owner died is taken again once the
lease runs out. Every state change is a compare-and-set on (state, owner) plus a history row, in
one transaction with synchronous=FULL: what the queue says happened, happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import PurePath
from typing import Any

from app.adapters.store.db import Database, from_text, to_text
from app.adapters.store.job_rows import (
    MIGRATIONS,
    free_result_path,
    from_epoch,
    get_job,
    job_from_row,
    record_event,
    required_time,
    to_column,
)
from app.core.jobs import (
    FINAL,
    OPEN,
    WORKABLE,
    IllegalTransition,
    Job,
    JobEvent,
    JobState,
    NewJob,
    QueueCounts,
    QueuePause,
    check_transition,
    new_idempotency_key,
    new_job_id,
    resume_state,
)

_CHANGEABLE = {"attempts", "polls", "next_attempt_at", "last_error", "last_error_kind",
               "cloud_job_id", "result_ready", "charged_cents", "finished_at", "send_anyway",
               "sends"}
_WORKABLE = tuple(s.value for s in WORKABLE)


class LeaseLost(IllegalTransition):
    """Another process took the job (our lease ran out) or the operator changed it meanwhile."""


class JobsRepo:
    def __init__(self, db: Database):
        self._db = db
        db.migrate("jobs", MIGRATIONS)

    # -- intake -----------------------------------------------------------------------------

    def enqueue(self, new: NewJob, at: datetime, *, retry_of: str | None = None
                ) -> tuple[Job, bool]:
        """(job, created). A photo already queued or done for this feature is not sent again
        (content hash). Under the same name that is simply the existing job (created=False);
        under another name it gets a row of its own in state DUPLICATE, which names the job
        that has the photo and is never sent (created=True: a row was made)."""
        with self._db.transaction() as conn:
            if retry_of is None:
                existing = conn.execute(
                    "SELECT * FROM jobs WHERE content_hash = ? AND feature = ?"
                    " AND state NOT IN ('removed', 'duplicate') AND superseded_by IS NULL"
                    " ORDER BY seq DESC LIMIT 1", (new.content_hash, new.feature)).fetchone()
                if existing is not None:
                    if existing["source_path"] == new.source_path:
                        return job_from_row(existing), False
                    return _duplicate(conn, new, job_from_row(existing), at), True
            job_id = new_job_id()
            result_path = free_result_path(conn, new.result_path, job_id)
            conn.execute(
                "INSERT INTO jobs(id, idempotency_key, source_path, source_mtime_ns, feature,"
                " content_hash, size_bytes, media_type, origin, result_path, state, created_at,"
                " updated_at, retry_of) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (job_id, new_idempotency_key(), new.source_path, new.source_mtime_ns, new.feature,
                 new.content_hash, new.size_bytes, new.media_type, new.origin, result_path,
                 JobState.PENDING.value, to_text(at), to_text(at), retry_of))
            note = f"queued from {new.origin}" + (f" (retry of {retry_of})" if retry_of else "")
            record_event(conn, job_id, at, None, JobState.PENDING, note, None)
            if retry_of is not None:
                conn.execute("UPDATE jobs SET superseded_by = ? WHERE id = ?", (job_id, retry_of))
            return get_job(conn, job_id), True

    def known_file(self, path: str, feature: str, size: int, mtime_ns: int) -> Job | None:
        """A job already made from this very file (same size and mtime): no need to hash it."""
        rows = self._db.query(
            "SELECT * FROM jobs WHERE source_path = ? AND feature = ? AND size_bytes = ?"
            " AND source_mtime_ns = ? AND state != 'removed' AND superseded_by IS NULL"
            " ORDER BY seq DESC LIMIT 1", (path, feature, size, mtime_ns))
        return job_from_row(rows[0]) if rows else None

    # -- the engine's side ------------------------------------------------------------------

    def claim(self, owner: str, now: datetime, lease_seconds: float,
              states: Iterable[JobState] = WORKABLE) -> Job | None:
        """Lease the oldest due job in one of `states`, or None. Expired leases count as free."""
        wanted = tuple(s.value for s in states)
        if not wanted:
            return None
        t = now.timestamp()
        marks = ",".join("?" * len(wanted))
        with self._db.transaction() as conn:
            row = conn.execute(
                f"SELECT * FROM jobs WHERE state IN ({marks})"
                " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
                " AND (owner IS NULL OR lease_until < ?) ORDER BY seq LIMIT 1",
                (*wanted, t, t)).fetchone()
            if row is None:
                return None
            if row["owner"] is not None and row["owner"] != owner:
                record_event(conn, row["id"], now, JobState(row["state"]), JobState(row["state"]),
                        f"taken over from {row['owner']} (its lease ran out)", owner)
            conn.execute("UPDATE jobs SET owner = ?, lease_until = ? WHERE id = ?",
                         (owner, t + lease_seconds, row["id"]))
            return get_job(conn, row["id"])

    def renew(self, owner: str, job_ids: Sequence[str], until: datetime) -> None:
        if not job_ids:
            return
        marks = ",".join("?" * len(job_ids))
        with self._db.transaction() as conn:
            conn.execute(f"UPDATE jobs SET lease_until = ? WHERE owner = ? AND id IN ({marks})",
                         (until.timestamp(), owner, *job_ids))

    def release_owner(self, owner: str) -> None:
        """A clean shutdown hands its jobs back at once instead of waiting for the lease."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE jobs SET owner = NULL, lease_until = NULL WHERE owner = ?",
                         (owner,))

    def transition(self, job: Job, owner: str, to: JobState, *, at: datetime, note: str,
                   release: bool, record: bool = True, **changes: Any) -> Job:
        check_transition(job.state, to)
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise ValueError(f"not changeable: {sorted(unknown)}")
        values = {k: to_column(k, v) for k, v in changes.items()}
        values.update(state=to.value, updated_at=to_text(at))
        if release:
            values.update(owner=None, lease_until=None)
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._db.transaction() as conn:
            done = conn.execute(
                f"UPDATE jobs SET {sets} WHERE id = ? AND state = ? AND owner IS ?",
                (*values.values(), job.id, job.state.value, owner)).rowcount
            if done != 1:
                raise LeaseLost(f"Job {job.id} was changed by someone else; leaving it to them.")
            if record:
                record_event(conn, job.id, at, job.state, to, note, owner)
            return get_job(conn, job.id)

    def next_due(self, states: Iterable[JobState] = WORKABLE) -> datetime | None:
        """When the earliest job in `states` becomes due (leased jobs: when the lease ends)."""
        wanted = tuple(s.value for s in states) or ("",)
        marks = ",".join("?" * len(wanted))
        row = self._db.query(
            f"SELECT MIN(MAX(COALESCE(next_attempt_at, 0), COALESCE(lease_until, 0))) FROM jobs"
            f" WHERE state IN ({marks})", wanted)[0]
        return None if row[0] is None else from_epoch(row[0])

    # -- the queue's pause --------------------------------------------------------------------

    def pause(self, kind: str, message: str, at: datetime, recheck_at: datetime | None) -> bool:
        """Pause (or re-arm the recheck of) the queue; True if it was not paused before."""
        with self._db.transaction() as conn:
            was = conn.execute("SELECT paused_kind FROM job_queue WHERE id = 1").fetchone()[0]
            conn.execute(
                "UPDATE job_queue SET paused_kind = ?, paused_message = ?,"
                " paused_at = COALESCE(CASE WHEN paused_kind = ? THEN paused_at END, ?),"
                " recheck_at = ? WHERE id = 1",
                (kind, message, kind, to_text(at),
                 None if recheck_at is None else recheck_at.timestamp()))
            return was is None

    def resume(self) -> bool:
        with self._db.transaction() as conn:
            was = conn.execute("SELECT paused_kind FROM job_queue WHERE id = 1").fetchone()[0]
            conn.execute("UPDATE job_queue SET paused_kind = NULL, paused_message = NULL,"
                         " paused_at = NULL, recheck_at = NULL WHERE id = 1")
            return was is not None

    def pause_state(self) -> QueuePause | None:
        row = self._db.query("SELECT * FROM job_queue WHERE id = 1")[0]
        if row["paused_kind"] is None:
            return None
        since = from_text(row["paused_at"])
        assert since is not None
        return QueuePause(row["paused_kind"], row["paused_message"] or "", since,
                          from_epoch(row["recheck_at"]))

    # -- reading --------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        rows = self._db.query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return job_from_row(rows[0]) if rows else None

    def find(self, prefix: str) -> Job | None:
        """A job by its id or an unambiguous start of it (what a person types)."""
        rows = self._db.query("SELECT * FROM jobs WHERE substr(id, 1, ?) = ? ORDER BY seq"
                              " LIMIT 2", (len(prefix), prefix))
        exact = [r for r in rows if r["id"] == prefix]
        if exact:
            return job_from_row(exact[0])
        return job_from_row(rows[0]) if len(rows) == 1 else None

    def jobs(self, *, include_final: bool = True, limit: int = 500) -> list[Job]:
        where = "" if include_final else (
            "WHERE state IN (" + ",".join(f"'{s.value}'" for s in OPEN) + ")")
        rows = self._db.query(f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ?", (limit,))
        return [job_from_row(r) for r in reversed(rows)]

    def jobs_since(self, since: datetime) -> list[Job]:
        """Every job queued at or after `since`, oldest first (the event summary)."""
        rows = self._db.query("SELECT * FROM jobs WHERE created_at >= ? ORDER BY seq",
                              (to_text(since),))
        return [job_from_row(r) for r in rows]

    def created_times(self, since: datetime) -> list[datetime]:
        rows = self._db.query("SELECT created_at FROM jobs WHERE created_at >= ?",
                              (to_text(since),))
        return [required_time(r[0]) for r in rows]

    def history(self, job_id: str) -> list[JobEvent]:
        rows = self._db.query("SELECT * FROM job_events WHERE job_id = ? ORDER BY id", (job_id,))
        return [JobEvent(r["job_id"], required_time(r["at"]),
                         JobState(r["from_state"]) if r["from_state"] else None,
                         JobState(r["to_state"]), r["note"], r["owner"]) for r in rows]

    def counts(self) -> QueueCounts:
        """Per photo: a job an operator retry replaced counts through its new run only."""
        rows = self._db.query("SELECT state, COUNT(*) AS n FROM jobs"
                              " WHERE superseded_by IS NULL GROUP BY state")
        marks = ",".join(f"'{s.value}'" for s in OPEN)
        oldest = self._db.query(f"SELECT MIN(created_at) FROM jobs WHERE state IN ({marks})")
        return QueueCounts({r["state"]: r["n"] for r in rows}, from_text(oldest[0][0]),
                           self.pause_state())

    # -- the operator's actions -------------------------------------------------------------------

    def retry(self, job_ids: Sequence[str], at: datetime) -> list[Job]:
        """Given up, failed or waiting jobs try again now, with a fresh retry budget. A job the
        cloud already failed (and charged) becomes a new job with a new key: that is a new run,
        and the cloud will charge it again, which the operator asked for."""
        out = []
        for job_id in job_ids:
            job = self._operable(job_id, at)
            if job.state is JobState.FAILED and job.cloud_job_id is not None:
                new = NewJob(job.source_path, job.feature, job.content_hash, job.size_bytes,
                             job.media_type, "retry", job.result_path)
                out.append(self.enqueue(new, at, retry_of=job.id)[0])
                continue
            if job.state in (JobState.SUCCEEDED, JobState.REMOVED, JobState.DUPLICATE):
                continue  # nothing to retry; a multi-selection may include these
            target = resume_state(job) if job.state in FINAL else job.state
            if target is JobState.HELD:
                target = JobState.PENDING  # through the preflight again
            out.append(self._operator_move(job, target, at, "operator asked to retry",
                                           attempts=0, next_attempt_at=None, finished_at=None,
                                           key_since=at))
        return out

    def send_anyway(self, job_ids: Sequence[str], at: datetime) -> list[Job]:
        out = []
        for job_id in job_ids:
            job = self._operable(job_id, at)
            if job.state is JobState.HELD:
                out.append(self._operator_move(job, JobState.PENDING, at,
                                               "operator chose to send despite the slow link",
                                               send_anyway=True, next_attempt_at=None))
        return out

    def remove(self, job_ids: Sequence[str], at: datetime) -> list[Job]:
        out = []
        for job_id in job_ids:
            job = self._operable(job_id, at)
            if job.state is not JobState.REMOVED:
                out.append(self._operator_move(job, JobState.REMOVED, at,
                                               "removed by the operator", finished_at=at))
        return out

    def release_held(self, at: datetime, note: str) -> int:
        with self._db.transaction() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM jobs WHERE state = 'held'")]
            conn.execute("UPDATE jobs SET state = 'pending', next_attempt_at = NULL,"
                         " updated_at = ? WHERE state = 'held'", (to_text(at),))
            for job_id in ids:
                record_event(conn, job_id, at, JobState.HELD, JobState.PENDING, note, None)
            return len(ids)

    def due_now(self, at: datetime) -> int:
        """`replay`: forget the backoff of every waiting job, so they are all due at once."""
        with self._db.transaction() as conn:
            return conn.execute(
                f"UPDATE jobs SET next_attempt_at = NULL WHERE state IN"
                f" ({','.join('?' * len(_WORKABLE))}) AND next_attempt_at > ?",
                (*_WORKABLE, at.timestamp())).rowcount

    def _operable(self, job_id: str, at: datetime) -> Job:
        job = self.find(job_id)
        if job is None:
            raise LeaseLost(f"No job {job_id} in the queue.")
        if job.owner is not None and job.lease_until and job.lease_until > at:
            raise LeaseLost(f"Job {job.id} is being worked on right now; try again in a moment.")
        return job

    def _operator_move(self, job: Job, to: JobState, at: datetime, note: str,
                       **changes: Any) -> Job:
        # The operator acts on unleased jobs, so owner is whatever is left of an expired lease.
        check_transition(job.state, to)
        values = {k: to_column(k, v) for k, v in changes.items()}
        values.update(state=to.value, updated_at=to_text(at), owner=None, lease_until=None)
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._db.transaction() as conn:
            done = conn.execute(f"UPDATE jobs SET {sets} WHERE id = ? AND state = ?",
                                (*values.values(), job.id, job.state.value)).rowcount
            if done != 1:
                raise LeaseLost(f"Job {job.id} changed meanwhile; look again.")
            record_event(conn, job.id, at, job.state, to, note, "operator")
            return get_job(conn, job.id)


def _duplicate(conn: Any, new: NewJob, original: Job, at: datetime) -> Job:
    job_id = new_job_id()
    name = PurePath(original.source_path).name
    note = f"same photo as {name} ({original.id}): not sent again"
    conn.execute(
        "INSERT INTO jobs(id, idempotency_key, source_path, source_mtime_ns, feature,"
        " content_hash, size_bytes, media_type, origin, result_path, state, created_at,"
        " updated_at, finished_at, duplicate_of, last_error, last_error_kind)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (job_id, new_idempotency_key(), new.source_path, new.source_mtime_ns, new.feature,
         new.content_hash, new.size_bytes, new.media_type, new.origin, original.result_path,
         JobState.DUPLICATE.value, to_text(at), to_text(at), to_text(at), original.id,
         f"Same photo as {name}: not sent again (no second charge).", "duplicate"))
    record_event(conn, job_id, at, None, JobState.DUPLICATE, note, None)
    return get_job(conn, job_id)
