"""Refund requests: what the monitor files when a charge bought nothing.

The demo decides like a careful support desk would: it looks at the charged job itself. A job
that really failed, or a second charge for one job, is refunded with a ledger entry; a job that
delivered its result is rejected with an explanation.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from app.democloud import fields, idempotency, ledger
from app.democloud.clock import new_id, now_ts
from app.democloud.jobs import FEATURES
from app.democloud.problems import conflict, not_found, unprocessable

if TYPE_CHECKING:
    from app.democloud.runtime import Runtime

REFUNDABLE_KINDS = ("ai_run", "sms")


def refund_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": row["status"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "ledger_entry_id": row["ledger_entry_id"],
        "job_id": row["job_id"],
        "feature": row["feature"],
        "amount_cents": row["amount_cents"],
        "reason": row["reason"],
        "refund_entry_id": row["refund_entry_id"],
        "resolution": row["resolution"],
    }


def _validated(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "ledger_entry_id": fields.text(body, "ledger_entry_id", max_length=100),
        "job_id": fields.text(body, "job_id", default=None, max_length=100, nullable=True),
        "feature": fields.text(body, "feature", max_length=64),
        "amount_cents": fields.integer(body, "amount_cents", minimum=1),
        "charged_at": fields.timestamp(body, "charged_at", required=True),
        "submitted_at": fields.timestamp(body, "submitted_at", required=False),
        "failed_at": fields.timestamp(body, "failed_at", required=False),
        "reason": fields.text(body, "reason", max_length=1000),
        "account_email": fields.text(body, "account_email", max_length=254),
        "booth_name": fields.text(body, "booth_name", default=None, max_length=100, nullable=True),
        "details": fields.text(body, "details", default=None, max_length=10000, nullable=True),
    }


def create(
    rt: Runtime, account_id: int, key: str, body: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    claim = _validated(body)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
    with rt.db.tx() as conn:
        existing = idempotency.lookup(conn, account_id, "refund-requests", key, fingerprint)
        if existing is not None:
            return refund_json(_row(conn, account_id, existing)), False
        entry = ledger.get_entry(conn, account_id, claim["ledger_entry_id"])
        if entry is None or entry["kind"] not in REFUNDABLE_KINDS or entry["amount_cents"] >= 0:
            raise unprocessable(
                "ledger_entry_id must name an ai_run or sms deduction on this account."
            )
        if claim["amount_cents"] > -entry["amount_cents"]:
            raise unprocessable(
                f"amount_cents exceeds the {-entry['amount_cents']} cents that entry charged."
            )
        other = conn.execute(
            "SELECT id FROM refund_requests WHERE account_id = ? AND ledger_entry_id = ?",
            (account_id, claim["ledger_entry_id"]),
        ).fetchone()
        if other is not None:
            raise conflict(
                "duplicate_claim",
                "A refund request for this ledger entry already exists.",
                existing_id=other["id"],
            )
        request_id = new_id("rr")
        ts = now_ts()
        now = time.time()
        delay = rt.options.refund_seconds
        conn.execute(
            "INSERT INTO refund_requests (id, account_id, status, created_at, updated_at,"
            " ledger_entry_id, job_id, feature, amount_cents, reason, charged_at, submitted_at,"
            " failed_at, account_email, booth_name, details, idempotency_key, review_at,"
            " decide_at) VALUES (?, ?, 'received', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request_id,
                account_id,
                ts,
                ts,
                claim["ledger_entry_id"],
                claim["job_id"] or entry["job_id"],
                claim["feature"],
                claim["amount_cents"],
                claim["reason"],
                claim["charged_at"],
                claim["submitted_at"],
                claim["failed_at"],
                claim["account_email"],
                claim["booth_name"],
                claim["details"],
                key,
                now + delay / 2,
                now + delay,
            ),
        )
        idempotency.remember(conn, account_id, "refund-requests", key, fingerprint, request_id)
        created = refund_json(_row(conn, account_id, request_id))
    rt.wake_worker()
    return created, True


def _row(conn: sqlite3.Connection, account_id: int, request_id: str) -> sqlite3.Row:
    row = conn.execute(
        "SELECT * FROM refund_requests WHERE id = ? AND account_id = ?", (request_id, account_id)
    ).fetchone()
    if row is None:
        raise not_found("No refund request with this id on this account.")
    return row


def get(rt: Runtime, account_id: int, request_id: str) -> dict[str, Any]:
    with rt.db.read() as conn:
        return refund_json(_row(conn, account_id, request_id))


def page(rt: Runtime, account_id: int, cursor: str | None, limit: int) -> dict[str, Any]:
    after = ledger.decode_cursor("refunds", cursor)
    with rt.db.read() as conn:
        rows, next_seq, has_more = ledger.seq_page(conn, "refund_requests", account_id, after,
                                                   limit)
    return {
        "refund_requests": [refund_json(row) for row in rows],
        "next_cursor": ledger.encode_cursor("refunds", next_seq),
        "has_more": has_more,
    }


def advance(rt: Runtime, now: float) -> float | None:
    """Move requests along their lifecycle; return when the next one needs attention."""
    with rt.db.tx() as conn:
        conn.execute(
            "UPDATE refund_requests SET status = 'under_review', updated_at = ?"
            " WHERE status = 'received' AND review_at <= ?",
            (now_ts(), now),
        )
        for row in conn.execute(
            "SELECT * FROM refund_requests WHERE status IN ('received', 'under_review')"
            " AND decide_at <= ? ORDER BY seq",
            (now,),
        ).fetchall():
            _decide(rt, conn, row, now)
        (nxt,) = conn.execute(
            "SELECT MIN(CASE WHEN status = 'received' THEN MIN(review_at, decide_at)"
            " ELSE decide_at END) FROM refund_requests"
            " WHERE status IN ('received', 'under_review')"
        ).fetchone()
    return nxt


def _decide(rt: Runtime, conn: sqlite3.Connection, row: sqlite3.Row, now: float) -> None:
    entry = conn.execute(
        "SELECT * FROM ledger_entries WHERE id = ?", (row["ledger_entry_id"],)
    ).fetchone()
    job = None
    if entry["job_id"]:
        job = conn.execute("SELECT * FROM jobs WHERE id = ?", (entry["job_id"],)).fetchone()
    earlier_charge = None
    if entry["job_id"]:
        earlier_charge = conn.execute(
            "SELECT id FROM ledger_entries WHERE job_id = ? AND kind = 'ai_run' AND seq < ?",
            (entry["job_id"], entry["seq"]),
        ).fetchone()
    if earlier_charge is not None:
        _refund(conn, row, entry, "Second charge for one job; the duplicate was refunded.")
    elif job is not None and job["status"] == "failed":
        _refund(conn, row, entry, f"The job failed ({job['failure_reason']}); charge refunded.")
    elif job is not None and job["status"] in ("queued", "running"):
        # Too early to judge: look again once the job has had time to finish.
        conn.execute(
            "UPDATE refund_requests SET status = 'under_review', updated_at = ?, decide_at = ?"
            " WHERE id = ?",
            (now_ts(), now + max(rt.options.refund_seconds, 0.5), row["id"]),
        )
    elif job is not None:
        _reject(conn, row, "The job completed and its result was delivered; the charge stands.")
    elif entry["kind"] == "sms":
        _reject(conn, row, "The message was accepted by the SMS carrier; the charge stands.")
    else:
        _reject(conn, row, "No failed job matches this charge; the charge stands.")


def _refund(conn: sqlite3.Connection, row: sqlite3.Row, entry: sqlite3.Row, text: str) -> None:
    feature = FEATURES.get(entry["feature"] or "")
    label = feature.label if feature else (entry["feature"] or "charge")
    refund = ledger.record(
        conn,
        row["account_id"],
        kind="refund",
        amount_cents=row["amount_cents"],
        feature=entry["feature"],
        job_id=entry["job_id"],
        refund_request_id=row["id"],
        description=f"Refund: {label} charge {entry['id']} (request {row['id']})",
    )
    conn.execute(
        "UPDATE refund_requests SET status = 'refunded', refund_entry_id = ?, resolution = ?,"
        " updated_at = ? WHERE id = ?",
        (refund["id"], text, now_ts(), row["id"]),
    )


def _reject(conn: sqlite3.Connection, row: sqlite3.Row, text: str) -> None:
    conn.execute(
        "UPDATE refund_requests SET status = 'rejected', resolution = ?, updated_at = ?"
        " WHERE id = ?",
        (text, now_ts(), row["id"]),
    )
