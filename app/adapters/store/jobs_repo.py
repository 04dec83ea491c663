"""The durable job queue (component "jobs"): jobs, their history, and the queue's pause state.

Claims take a lease (owner id + expiry) inside BEGIN IMMEDIATE, so the tray app and a command-line
run on the same file never take the same job, and a job whose owner died is taken again once the
lease runs out. Every state change is a compare-and-set on (state, owner) plus a history row, in
one transaction with synchronous=FULL: what the queue says happened, happened.

Leases, next attempts and the pause's recheck are kept on the store's timeline (timeline.py), not
the wall clock: a clock stepped back an hour does not freeze the queue for an hour. History rows
keep the wall time, for people. A job's photo bytes live in the spool (spool.py) until the result
is delivered or the job is removed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from app.adapters.store import spool
from app.adapters.store.db import Database, from_text, to_text
from app.adapters.store.job_rows import (
    MIGRATIONS,
    free_result_path,
    get_job,
    insert_duplicate,
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
               "follow_up", "cloud_created_at", "cloud_ended_at", "sends"}
_WORKABLE = tuple(s.value for s in WORKABLE)
# A given-up job the cloud has is still asked about now and then (job_runner: FOLLOW_UP_DELAY).
_FOLLOW_UPS = " OR (state = 'given_up' AND follow_up = 1)"
# The result is delivered or the operator removed the job: its spooled bytes are not needed.
_SPOOL_DONE = frozenset({JobState.SUCCEEDED, JobState.REMOVED})
# A failed or given-up job keeps its bytes this long, for an operator retry.
SPOOL_KEEP_SECONDS = 7 * 86400


class LeaseLost(IllegalTransition):
    """Another process took the job (our lease ran out) or the operator changed it meanwhile."""


class JobsRepo:
    def __init__(self, db: Database):
        self._db = db
        self._clock = db.timeline
        db.migrate("jobs", MIGRATIONS)

    @property
    def spool_folder(self) -> Path:
        return self._db.path.parent / "spool"

    def _job(self, row: sqlite3.Row) -> Job:
        return job_from_row(row, self._clock)

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
                        return self._job(existing), False
                    return insert_duplicate(conn, new, self._job(existing), at, self._clock), True
            job_id = new_job_id()
            result_path = free_result_path(conn, new.result_path, job_id)
            conn.execute(
                "INSERT INTO jobs(id, idempotency_key, source_path, source_mtime_ns, feature,"
                " content_hash, size_bytes, media_type, origin, result_path, state, created_at,"
                " updated_at, retry_of, spool_path) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (job_id, new_idempotency_key(), new.source_path, new.source_mtime_ns, new.feature,
                 new.content_hash, new.size_bytes, new.media_type, new.origin, result_path,
                 JobState.PENDING.value, to_text(at), to_text(at), retry_of, new.spool_path))
            note = f"queued from {new.origin}" + (f" (retry of {retry_of})" if retry_of else "")
            record_event(conn, job_id, at, None, JobState.PENDING, note, None)
            if retry_of is not None:
                conn.execute("UPDATE jobs SET superseded_by = ? WHERE id = ?", (job_id, retry_of))
            return get_job(conn, job_id, self._clock), True

    def known_file(self, path: str, feature: str, size: int, mtime_ns: int) -> Job | None:
        """A job already made from this very file (same size and mtime): no need to hash it."""
        rows = self._db.query(
            "SELECT * FROM jobs WHERE source_path = ? AND feature = ? AND size_bytes = ?"
            " AND source_mtime_ns = ? AND state != 'removed' AND superseded_by IS NULL"
            " ORDER BY seq DESC LIMIT 1", (path, feature, size, mtime_ns))
        return self._job(rows[0]) if rows else None

    # -- the engine's side ------------------------------------------------------------------

    def claim(self, owner: str, now: datetime, lease_seconds: float,
              states: Iterable[JobState] = WORKABLE, *, follow_ups: bool = False) -> Job | None:
        """Lease the oldest due job in one of `states` (and, with follow_ups, a given-up job
        the cloud has that is due for a look), or None. Expired leases count as free. `now` is
        the wall time for the history; due and lease times are on the timeline."""
        wanted = tuple(s.value for s in states) or ("",)
        t = self._clock.now()
        marks = ",".join("?" * len(wanted))
        extra = _FOLLOW_UPS if follow_ups else ""
        with self._db.transaction() as conn:
            row = conn.execute(
                f"SELECT * FROM jobs WHERE (state IN ({marks}){extra})"
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
            self._clock.note(conn)
            return get_job(conn, row["id"], self._clock)

    def renew(self, owner: str, job_ids: Sequence[str], lease_seconds: float) -> None:
        """Extend our leases; also the engine's heartbeat for the timeline's high-water mark."""
        marks = ",".join("?" * len(job_ids))
        with self._db.transaction() as conn:
            if job_ids:
                conn.execute(
                    f"UPDATE jobs SET lease_until = ? WHERE owner = ? AND id IN ({marks})",
                    (self._clock.after(lease_seconds), owner, *job_ids))
            self._clock.note(conn)

    def release_owner(self, owner: str) -> None:
        """A clean shutdown hands its jobs back at once instead of waiting for the lease."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE jobs SET owner = NULL, lease_until = NULL WHERE owner = ?",
                         (owner,))

    def transition(self, job: Job, owner: str, to: JobState, *, at: datetime, note: str,
                   release: bool, record: bool = True, due_in: float | None = None,
                   **changes: Any) -> Job:
        """`due_in`: seconds until the job is due again (on the timeline); `next_attempt_at=None`
        makes it due now. Entering waiting_result starts the result wait, once."""
        check_transition(job.state, to)
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise ValueError(f"not changeable: {sorted(unknown)}")
        if "next_attempt_at" in changes and changes["next_attempt_at"] is not None:
            raise ValueError("give next attempts as due_in seconds (the timeline's unit)")
        values = {k: to_column(k, v) for k, v in changes.items()}
        values.update(state=to.value, updated_at=to_text(at))
        if due_in is not None:
            values["next_attempt_at"] = self._clock.after(due_in)
        if release:
            values.update(owner=None, lease_until=None)
        sets = ", ".join(f"{k} = ?" for k in values)
        if to in (JobState.WAITING_RESULT, JobState.DOWNLOADING):
            sets += ", wait_since = COALESCE(wait_since, ?)"
            values["wait_since"] = self._clock.now()
        elif to is JobState.SENDING:
            sets += ", first_sent_at = COALESCE(first_sent_at, ?)"
            values["first_sent_at"] = to_text(at)
        with self._db.transaction() as conn:
            done = conn.execute(
                f"UPDATE jobs SET {sets} WHERE id = ? AND state = ? AND owner IS ?",
                (*values.values(), job.id, job.state.value, owner)).rowcount
            if done != 1:
                raise LeaseLost(f"Job {job.id} was changed by someone else; leaving it to them.")
            if record:
                record_event(conn, job.id, at, job.state, to, note, owner)
            self._clock.note(conn)
            moved = get_job(conn, job.id, self._clock)
        if to in _SPOOL_DONE:
            spool.discard(moved.spool_path)
        return moved

    def due_in(self, states: Iterable[JobState] = WORKABLE, *, follow_ups: bool = False
               ) -> float | None:
        """Seconds until the earliest job in `states` becomes due (leased jobs: when the lease
        ends); None if there is none. May be negative (overdue)."""
        wanted = tuple(s.value for s in states) or ("",)
        marks = ",".join("?" * len(wanted))
        extra = _FOLLOW_UPS if follow_ups else ""
        row = self._db.query(
            f"SELECT MIN(MAX(COALESCE(next_attempt_at, 0), COALESCE(lease_until, 0))) FROM jobs"
            f" WHERE state IN ({marks}){extra}", wanted)[0]
        return None if row[0] is None else float(row[0]) - self._clock.now()

    # -- the queue's pause --------------------------------------------------------------------

    def pause(self, kind: str, message: str, at: datetime, recheck_in: float | None) -> bool:
        """Pause (or re-arm the recheck of) the queue; True if it was not paused before.
        `recheck_in`: seconds until one job is tried again."""
        with self._db.transaction() as conn:
            was = conn.execute("SELECT paused_kind FROM job_queue WHERE id = 1").fetchone()[0]
            conn.execute(
                "UPDATE job_queue SET paused_kind = ?, paused_message = ?,"
                " paused_at = COALESCE(CASE WHEN paused_kind = ? THEN paused_at END, ?),"
                " recheck_at = ? WHERE id = 1",
                (kind, message, kind, to_text(at),
                 None if recheck_in is None else self._clock.after(recheck_in)))
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
        recheck = row["recheck_at"]
        return QueuePause(row["paused_kind"], row["paused_message"] or "", since,
                          self._clock.wall_of(recheck),
                          None if recheck is None else recheck - self._clock.now())

    # -- reading --------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        rows = self._db.query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return self._job(rows[0]) if rows else None

    def find(self, prefix: str) -> Job | None:
        """A job by its id or an unambiguous start of it (what a person types)."""
        rows = self._db.query("SELECT * FROM jobs WHERE substr(id, 1, ?) = ? ORDER BY seq"
                              " LIMIT 2", (len(prefix), prefix))
        exact = [r for r in rows if r["id"] == prefix]
        if exact:
            return self._job(exact[0])
        return self._job(rows[0]) if len(rows) == 1 else None

    def jobs(self, *, include_final: bool = True, limit: int = 500) -> list[Job]:
        where = "" if include_final else (
            "WHERE state IN (" + ",".join(f"'{s.value}'" for s in OPEN) + ")")
        rows = self._db.query(f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ?", (limit,))
        return [self._job(r) for r in reversed(rows)]

    def jobs_since(self, since: datetime) -> list[Job]:
        """Every job queued at or after `since`, oldest first (the event summary)."""
        rows = self._db.query("SELECT * FROM jobs WHERE created_at >= ? ORDER BY seq",
                              (to_text(since),))
        return [self._job(r) for r in rows]

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
                             job.media_type, "retry", job.result_path,
                             spool_path=self._respool(job))
                out.append(self.enqueue(new, at, retry_of=job.id)[0])
                continue
            if job.state in (JobState.SUCCEEDED, JobState.REMOVED, JobState.DUPLICATE):
                continue  # nothing to retry; a multi-selection may include these
            target = resume_state(job) if job.state in FINAL else job.state
            if target is JobState.HELD:
                target = JobState.PENDING  # through the preflight again
            # The result wait starts again too: the operator asked to look once more.
            out.append(self._operator_move(job, target, at, "operator asked to retry",
                                           attempts=0, next_attempt_at=None, finished_at=None,
                                           key_since=at, follow_up=0,
                                           wait_since=self._clock.now() if job.cloud_job_id
                                           else None))
        return out

    def _respool(self, job: Job) -> str | None:
        if not job.spool_path:
            return None
        try:
            return spool.duplicate(job.spool_path, self.spool_folder)
        except OSError:
            return None  # the runner falls back to the original file, if it is unchanged

    def spool_in_use(self) -> set[str]:
        """Spool files a job may still need: open jobs, and failed or given-up ones for a week
        (an operator retry sends the same bytes)."""
        cutoff = to_text(datetime.now(timezone.utc) - timedelta(seconds=SPOOL_KEEP_SECONDS))
        rows = self._db.query(
            "SELECT spool_path FROM jobs WHERE spool_path IS NOT NULL AND (state NOT IN"
            " ('succeeded', 'removed', 'failed', 'given_up') OR updated_at >= ?)", (cutoff,))
        return {r[0] for r in rows}

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
                (*_WORKABLE, self._clock.now())).rowcount

    def _operable(self, job_id: str, at: datetime) -> Job:
        job = self.find(job_id)
        if job is None:
            raise LeaseLost(f"No job {job_id} in the queue.")
        if self._db.query("SELECT 1 FROM jobs WHERE id = ? AND owner IS NOT NULL AND"
                          " lease_until > ?", (job.id, self._clock.now())):
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
            moved = get_job(conn, job.id, self._clock)
        if to in _SPOOL_DONE:
            spool.discard(moved.spool_path)
        return moved
