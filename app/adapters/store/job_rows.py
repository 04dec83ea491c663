"""The job queue's schema and rows: how a Job and its history are stored in SQLite.

Shared by the queue's repository; kept apart so the repository reads as what the queue does.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any

from app.adapters.store.db import from_text, to_text
from app.adapters.store.timeline import Timeline
from app.core.jobs import Job, JobState, NewJob, new_idempotency_key, new_job_id

MIGRATIONS = [
    """
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        idempotency_key TEXT NOT NULL UNIQUE,
        source_path TEXT NOT NULL,
        source_mtime_ns INTEGER NOT NULL DEFAULT 0,
        feature TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        media_type TEXT NOT NULL,
        origin TEXT NOT NULL,
        result_path TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        polls INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        last_error TEXT,
        last_error_kind TEXT,
        cloud_job_id TEXT,
        result_ready INTEGER NOT NULL DEFAULT 0,
        send_anyway INTEGER NOT NULL DEFAULT 0,
        charged_cents INTEGER,
        owner TEXT,
        lease_until REAL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        finished_at TEXT,
        retry_of TEXT,
        superseded_by TEXT
    );
    CREATE INDEX jobs_due ON jobs(state, next_attempt_at);
    CREATE INDEX jobs_content ON jobs(content_hash, feature);
    CREATE INDEX jobs_source ON jobs(source_path);
    CREATE INDEX jobs_result ON jobs(result_path);
    CREATE TABLE job_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        at TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        owner TEXT
    );
    CREATE INDEX job_events_job ON job_events(job_id, id);
    CREATE TABLE job_queue (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        paused_kind TEXT,
        paused_message TEXT,
        paused_at TEXT,
        recheck_at REAL
    );
    INSERT INTO job_queue(id) VALUES (1)
    """,
    # When an operator retry restarted the key-age clock (see job_runner.KEY_SAFE_AGE).
    "ALTER TABLE jobs ADD COLUMN key_since TEXT",
    # A photo seen again under another name gets a visible row; uploads started are counted.
    """
    ALTER TABLE jobs ADD COLUMN duplicate_of TEXT;
    ALTER TABLE jobs ADD COLUMN sends INTEGER NOT NULL DEFAULT 0
    """,
    # The spooled bytes; the result wait on the store's timeline; following a given-up job;
    # the cloud's own times for refund requests. (next_attempt_at and lease_until are timeline
    # values from here on; the timeline starts at epoch seconds, so old values stay valid.)
    """
    ALTER TABLE jobs ADD COLUMN spool_path TEXT;
    ALTER TABLE jobs ADD COLUMN wait_since REAL;
    ALTER TABLE jobs ADD COLUMN follow_up INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN cloud_created_at TEXT;
    ALTER TABLE jobs ADD COLUMN cloud_ended_at TEXT;
    ALTER TABLE jobs ADD COLUMN first_sent_at TEXT
    """,
]


def record_event(conn: sqlite3.Connection, job_id: str, at: datetime, before: JobState | None,
            after: JobState, note: str, owner: str | None) -> None:
    conn.execute("INSERT INTO job_events(job_id, at, from_state, to_state, note, owner)"
                 " VALUES (?,?,?,?,?,?)",
                 (job_id, to_text(at), before.value if before else None, after.value, note,
                  owner))


def free_result_path(conn: sqlite3.Connection, wanted: str, job_id: str) -> str:
    # A removed or failed job never wrote its result, so its name is free again.
    taken = conn.execute("SELECT 1 FROM jobs WHERE result_path = ?"
                         " AND state NOT IN ('removed', 'failed')", (wanted,)).fetchone()
    if taken is None:
        return wanted
    path = PurePath(wanted)
    return str(path.with_name(f"{path.stem}-{job_id[2:10]}{path.suffix}"))


def to_column(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return to_text(value)
    if isinstance(value, bool):
        return int(value)
    return value


def get_job(conn: sqlite3.Connection, job_id: str, timeline: Timeline) -> Job:
    return job_from_row(conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone(),
                        timeline)


def required_time(text: str) -> datetime:
    value = from_text(text)
    assert value is not None
    return value


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def job_from_row(row: sqlite3.Row, timeline: Timeline) -> Job:
    """Timeline values become what they mean now: wall times to show, seconds waited."""
    since = row["wait_since"]
    return Job(
        id=row["id"], seq=row["seq"], idempotency_key=row["idempotency_key"],
        source_path=row["source_path"], feature=row["feature"],
        content_hash=row["content_hash"], size_bytes=row["size_bytes"],
        media_type=row["media_type"], origin=row["origin"], result_path=row["result_path"],
        state=JobState(row["state"]), created_at=required_time(row["created_at"]),
        updated_at=required_time(row["updated_at"]), attempts=row["attempts"], polls=row["polls"],
        next_attempt_at=timeline.wall_of(row["next_attempt_at"]), last_error=row["last_error"],
        last_error_kind=row["last_error_kind"], cloud_job_id=row["cloud_job_id"],
        result_ready=bool(row["result_ready"]), send_anyway=bool(row["send_anyway"]),
        charged_cents=row["charged_cents"], finished_at=from_text(row["finished_at"]),
        key_since=from_text(row["key_since"]),
        owner=row["owner"], lease_until=timeline.wall_of(row["lease_until"]),
        retry_of=row["retry_of"], spool_path=row["spool_path"],
        waited_seconds=None if since is None else max(0.0, timeline.now() - since),
        follow_up=bool(row["follow_up"]), cloud_created_at=from_text(row["cloud_created_at"]),
        cloud_ended_at=from_text(row["cloud_ended_at"]),
        first_sent_at=from_text(row["first_sent_at"]),
        superseded_by=row["superseded_by"], duplicate_of=row["duplicate_of"], sends=row["sends"],
    )


def insert_duplicate(conn: sqlite3.Connection, new: NewJob, original: Job, at: datetime,
                     timeline: Timeline) -> Job:
    """A DUPLICATE row: the same photo as `original` under another name, never sent."""
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
    return get_job(conn, job_id, timeline)
