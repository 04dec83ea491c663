"""AI jobs: admission, the charge, processing and the result.

The charge is written when a job starts running, before the work is done. That reproduces the
vendor's real failure mode ("charged, but no result") which the monitor exists to catch, and a
failed job is deliberately not refunded on its own: that is what refund requests are for.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.democloud import idempotency, images, ledger
from app.democloud.clock import new_id, now_ts
from app.democloud.problems import ApiError, conflict, not_found, unprocessable

if TYPE_CHECKING:
    from app.democloud.runtime import Runtime


@dataclass(frozen=True)
class Feature:
    id: str
    label: str
    price_cents: int


FEATURES = {
    f.id: f
    for f in (
        Feature("background_removal", "Background removal", 25),
        Feature("ai_headshot", "AI headshot", 100),
        Feature("draw_me", "Draw Me", 150),
    )
}
SMS_PRICE_CENTS = 5
MAX_UPLOAD_BYTES = 15 * 1024 * 1024
FAILURE_REASONS = (
    "processing error: connection to render node lost",
    "processing error: model timed out",
    "processing error: render node ran out of memory",
)
NOT_CHARGED = "not started: insufficient credits when the job reached the front of the queue"


def features_json() -> dict[str, Any]:
    return {
        "features": [
            {"id": f.id, "label": f.label, "price_cents": f.price_cents} for f in FEATURES.values()
        ]
    }


def require_feature(raw: str | None) -> Feature:
    if raw is None or raw not in FEATURES:
        raise unprocessable(f"Unknown feature {raw!r}; see GET /v1/features.")
    return FEATURES[raw]


def job_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "feature": row["feature"],
        "status": row["status"],
        "failure_reason": row["failure_reason"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "charged_cents": row["charged_cents"],
        "ledger_entry_id": row["ledger_entry_id"],
        "idempotency_key": row["idempotency_key"],
        "result_url": f"/v1/jobs/{row['id']}/result" if row["status"] == "succeeded" else None,
        "booth_id": row["booth_id"],
    }


def _row(conn: sqlite3.Connection, account_id: int, job_id: str) -> sqlite3.Row:
    row = conn.execute(
        "SELECT * FROM jobs WHERE id = ? AND account_id = ?", (job_id, account_id)
    ).fetchone()
    if row is None:
        raise not_found("No job with this id on this account.")
    return row


def create(
    rt: Runtime,
    account_id: int,
    *,
    feature: Feature,
    media_type: str,
    body: bytes,
    key: str,
    booth_id: str | None,
) -> tuple[dict[str, Any], bool]:
    """(job, created). A replay of the same key and request returns the first job, uncharged."""
    fingerprint = f"{feature.id}:{hashlib.sha256(body).hexdigest()}"
    with rt.db.tx() as conn:
        existing = idempotency.lookup(conn, account_id, "jobs", key, fingerprint)
        if existing is not None:
            return job_json(_row(conn, account_id, existing)), False
        (balance,) = conn.execute(
            "SELECT balance_cents FROM accounts WHERE id = ?", (account_id,)
        ).fetchone()
        # Queued jobs are not charged yet but will be: count them so admission is honest.
        committed = sum(
            FEATURES[r["feature"]].price_cents
            for r in conn.execute(
                "SELECT feature FROM jobs WHERE account_id = ? AND status = 'queued'",
                (account_id,),
            )
        )
        available = balance - committed
        if available < feature.price_cents:
            raise ApiError(
                402,
                "insufficient_credits",
                f"{feature.label} costs {feature.price_cents} cents; "
                f"{max(available, 0)} cents are available.",
                extra={"balance_cents": balance, "required_cents": feature.price_cents},
            )
        job_id = new_id("job")
        ts = now_ts()
        conn.execute(
            "INSERT INTO jobs (id, account_id, feature, status, created_at, updated_at,"
            " idempotency_key, body_sha256, content_type, booth_id, input)"
            " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                account_id,
                feature.id,
                ts,
                ts,
                key,
                fingerprint.split(":", 1)[1],
                media_type,
                booth_id,
                body,
            ),
        )
        idempotency.remember(conn, account_id, "jobs", key, fingerprint, job_id)
        job = job_json(_row(conn, account_id, job_id))
    rt.wake_worker()
    return job, True


def get(rt: Runtime, account_id: int, job_id: str) -> dict[str, Any]:
    with rt.db.read() as conn:
        return job_json(_row(conn, account_id, job_id))


def result(rt: Runtime, account_id: int, job_id: str) -> tuple[bytes, str]:
    with rt.db.read() as conn:
        row = _row(conn, account_id, job_id)
    if row["status"] == "failed":
        raise conflict("job_failed", f"The job failed ({row['failure_reason']}); no result.")
    if row["status"] != "succeeded":
        raise ApiError(
            409,
            "result_not_ready",
            f"The job is {row['status']}; poll GET /v1/jobs/{job_id} until it succeeds.",
            headers={"Retry-After": "1"},
        )
    media_type = row["content_type"]
    return images.with_marker(bytes(row["input"]), media_type, row["feature"]), media_type


def start_queued(rt: Runtime) -> None:
    """Move queued jobs to running, charging each one as it starts."""
    limit = rt.options.max_running_jobs
    with rt.db.tx() as conn:
        (running,) = conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'running'").fetchone()
        queued = conn.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY seq").fetchall()
        for row in queued:
            if limit is not None and running >= limit:
                break
            start_one(rt, conn, row)
            running += 1


def start_one(rt: Runtime, conn: sqlite3.Connection, row: sqlite3.Row) -> None:
    # Draw in queue order, one pair per job, so a seed always yields the same outcome sequence.
    draw = rt.job_rng.random()
    reason = rt.job_rng.choice(FAILURE_REASONS)
    planned = reason if draw < rt.options.job_failure_rate else None
    feature = FEATURES[row["feature"]]
    ts = now_ts()
    (balance,) = conn.execute(
        "SELECT balance_cents FROM accounts WHERE id = ?", (row["account_id"],)
    ).fetchone()
    if balance < feature.price_cents:
        # Another booth spent the credits while this job waited: fail it without a charge.
        conn.execute(
            "UPDATE jobs SET status = 'failed', failure_reason = ?, updated_at = ? WHERE id = ?",
            (NOT_CHARGED, ts, row["id"]),
        )
        return
    entry = ledger.record(
        conn,
        row["account_id"],
        kind="ai_run",
        amount_cents=-feature.price_cents,
        feature=feature.id,
        job_id=row["id"],
        timestamp=ts,
        description=f"{feature.label} (job {row['id']})",
    )
    conn.execute(
        "UPDATE jobs SET status = 'running', charged_cents = ?, ledger_entry_id = ?,"
        " updated_at = ?, finish_at = ?, planned_failure = ? WHERE id = ?",
        (
            feature.price_cents,
            entry["id"],
            ts,
            time.time() + rt.options.job_seconds,
            planned,
            row["id"],
        ),
    )


def finish_due(rt: Runtime, now: float) -> None:
    """Complete running jobs whose time is up."""
    with rt.db.tx() as conn:
        for row in conn.execute(
            "SELECT id, planned_failure FROM jobs WHERE status = 'running' AND finish_at <= ?",
            (now,),
        ).fetchall():
            status = "failed" if row["planned_failure"] else "succeeded"
            conn.execute(
                "UPDATE jobs SET status = ?, failure_reason = ?, updated_at = ? WHERE id = ?",
                (status, row["planned_failure"], now_ts(), row["id"]),
            )


def next_finish(rt: Runtime) -> float | None:
    with rt.db.read() as conn:
        (nxt,) = conn.execute("SELECT MIN(finish_at) FROM jobs WHERE status = 'running'").fetchone()
    return nxt


def resume_after_restart(rt: Runtime) -> None:
    """A restarted server finishes jobs the old one left running within its own job_seconds."""
    with rt.db.tx() as conn:
        conn.execute(
            "UPDATE jobs SET finish_at = MIN(COALESCE(finish_at, 0), ?) WHERE status = 'running'",
            (time.time() + rt.options.job_seconds,),
        )


def insert_finished(
    conn: sqlite3.Connection,
    account_id: int,
    *,
    feature: Feature,
    created_at: str,
    booth_id: str | None,
    failure_reason: str | None = None,
    job_id: str | None = None,
    key: str | None = None,
    entry_id: str | None = None,
) -> dict[str, Any]:
    """A job that ran elsewhere (seed history, another booth), charged in the ledger as usual."""
    job_id = job_id or new_id("job")
    key = key or f"auto-{job_id}"
    data = images.make_png(8, 8)
    entry = ledger.record(
        conn,
        account_id,
        kind="ai_run",
        amount_cents=-feature.price_cents,
        feature=feature.id,
        job_id=job_id,
        timestamp=created_at,
        description=f"{feature.label} (job {job_id})",
        entry_id=entry_id,
    )
    conn.execute(
        "INSERT INTO jobs (id, account_id, feature, status, failure_reason, created_at,"
        " updated_at, charged_cents, ledger_entry_id, idempotency_key, body_sha256,"
        " content_type, booth_id, input) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            job_id,
            account_id,
            feature.id,
            "failed" if failure_reason else "succeeded",
            failure_reason,
            created_at,
            created_at,
            feature.price_cents,
            entry["id"],
            key,
            hashlib.sha256(data).hexdigest(),
            "image/png",
            booth_id,
            data,
        ),
    )
    return entry
