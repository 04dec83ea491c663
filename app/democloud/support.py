"""Support requests: the money traps of the vendor's support article, asked of support.

Kinds: missing_purchase (a paid receipt that never reached the ledger), missing_coupon_bonus
(a coupon's bonus that needs manual activation), balance_dispute (a deduction nothing explains),
account_restore (credits lost with a closed account), and refund (the refund request of
POST /v1/refund-requests, filed through this route instead; it is that refund request).

The demo desk decides like the article's support does: it credits the paid receipt, grants the
coupon's bonus, gives back an adjustment nobody can explain, reopens a closed account under
Pay-As-You-Go with its credits; and it says no when the account shows nothing wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from app.democloud import accounts, fields, idempotency, ledger, refunds
from app.democloud.clock import new_id, now_ts
from app.democloud.problems import conflict, not_found, unprocessable

if TYPE_CHECKING:
    from app.democloud.runtime import Runtime

KINDS = ("missing_purchase", "missing_coupon_bonus", "balance_dispute", "account_restore",
         "refund")
MAX_BODY_BYTES = 1024 * 1024  # room for a screenshot of the balance
ATTACHMENT_TYPES = ("image/png", "image/jpeg", "text/csv", "text/plain", "application/json")
MAX_ATTACHMENTS = 5
REFUND_STATUS = {"received": "received", "under_review": "under_review",
                 "refunded": "resolved", "rejected": "rejected"}
CLOSURE_PREFIX = "Account closed"


def _validated(body: dict[str, Any]) -> dict[str, Any]:
    kind = body.get("kind")
    if kind not in KINDS:
        raise unprocessable(f"'kind' must be one of {', '.join(KINDS)}.")
    doc: dict[str, Any] = {
        "kind": kind,
        "account_email": fields.text(body, "account_email", max_length=254),
        "booth_name": fields.text(body, "booth_name", default=None, max_length=100,
                                  nullable=True),
        "message": fields.text(body, "message", default=None, max_length=10000, nullable=True),
    }
    if kind == "missing_purchase":
        doc["receipt"] = fields.text(body, "receipt", max_length=100)
        doc["amount_cents"] = fields.integer(body, "amount_cents", minimum=1)
        doc["paid_at"] = fields.timestamp(body, "paid_at", required=True)
    elif kind == "missing_coupon_bonus":
        doc["coupon_code"] = fields.text(body, "coupon_code", max_length=40)
        doc["subscription_date"] = fields.timestamp(body, "subscription_date", required=True)
    elif kind == "balance_dispute":
        doc["expected_balance_cents"] = fields.integer(body, "expected_balance_cents")
        doc["actual_balance_cents"] = fields.integer(body, "actual_balance_cents")
        doc["noticed_at"] = fields.timestamp(body, "noticed_at", required=True)
        doc["ledger_entry_ids"] = _id_list(body.get("ledger_entry_ids", []))
    elif kind == "account_restore":
        doc["noticed_at"] = fields.timestamp(body, "noticed_at", required=False)
    _attachments(body.get("attachments", []))
    return doc


def _id_list(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 100 or not all(
            isinstance(v, str) and 0 < len(v) <= 100 for v in value):
        raise unprocessable("'ledger_entry_ids' must be a list of at most 100 entry ids.")
    return value


def _attachments(value: Any) -> int:
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS:
        raise unprocessable(f"'attachments' must be a list of at most {MAX_ATTACHMENTS}.")
    for item in value:
        if not isinstance(item, dict):
            raise unprocessable("Each attachment must be an object.")
        fields.text(item, "filename", max_length=100)
        if item.get("content_type") not in ATTACHMENT_TYPES:
            raise unprocessable(f"'content_type' must be one of {', '.join(ATTACHMENT_TYPES)}.")
        data = item.get("data_base64")
        try:
            if not isinstance(data, str) or not data:
                raise ValueError
            base64.b64decode(data, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise unprocessable("'data_base64' must be non-empty standard base64.") from exc
    return len(value)


def _subject_key(doc: dict[str, Any]) -> str | None:
    """Two requests about the same receipt or coupon are one request (409 duplicate_request)."""
    if doc["kind"] == "missing_purchase":
        return f"receipt:{doc['receipt']}"
    if doc["kind"] == "missing_coupon_bonus":
        return f"coupon:{doc['coupon_code'].lower()}"
    return None


def request_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    status, resolution, credited = row["status"], row["resolution"], row["credited_entry_id"]
    if row["refund_request_id"]:
        refund = conn.execute("SELECT * FROM refund_requests WHERE id = ?",
                              (row["refund_request_id"],)).fetchone()
        status = REFUND_STATUS.get(refund["status"], "received")
        resolution, credited = refund["resolution"], refund["refund_entry_id"]
    body = json.loads(row["body"])
    return {
        "id": row["id"], "kind": row["kind"], "status": status,
        "receipt": body.get("receipt"), "coupon_code": body.get("coupon_code"),
        "created_at": row["created_at"], "updated_at": row["updated_at"],
        "attachments": row["attachments"], "resolution": resolution,
        "credited_entry_id": credited, "refund_request_id": row["refund_request_id"],
    }


def create(rt: Runtime, account_id: int, key: str, body: dict[str, Any]
           ) -> tuple[dict[str, Any], bool]:
    doc = _validated(body)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
    with rt.db.read() as conn:
        existing = idempotency.lookup(conn, account_id, "support-requests", key, fingerprint)
        if existing is not None:
            return request_json(conn, _row(conn, account_id, existing)), False
    refund_id = None
    if doc["kind"] == "refund":
        # The refund request itself, under a key of its own scope: a retry replays it.
        refund_body = {k: v for k, v in body.items() if k not in ("kind", "message",
                                                                  "attachments")}
        created, _ = refunds.create(rt, account_id, f"support:{key}", refund_body)
        refund_id = created["id"]
    with rt.db.tx() as conn:
        existing = idempotency.lookup(conn, account_id, "support-requests", key, fingerprint)
        if existing is not None:
            return request_json(conn, _row(conn, account_id, existing)), False
        subject = _subject_key(doc)
        if subject is not None:
            other = conn.execute(
                "SELECT id FROM support_requests WHERE account_id = ? AND subject_key = ?",
                (account_id, subject)).fetchone()
            if other is not None:
                raise conflict("duplicate_request",
                               "A support request about this already exists.",
                               existing_id=other["id"])
        request_id, ts, now = new_id("sr"), now_ts(), time.time()
        delay = rt.options.refund_seconds
        conn.execute(
            "INSERT INTO support_requests (id, account_id, kind, status, created_at, updated_at,"
            " subject_key, body, attachments, refund_request_id, idempotency_key, review_at,"
            " decide_at) VALUES (?, ?, ?, 'received', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (request_id, account_id, doc["kind"], ts, ts, subject, json.dumps(doc),
             len(body.get("attachments", [])), refund_id, key, now + delay / 2, now + delay))
        idempotency.remember(conn, account_id, "support-requests", key, fingerprint, request_id)
        result = request_json(conn, _row(conn, account_id, request_id))
    rt.wake_worker()
    return result, True


def _row(conn: sqlite3.Connection, account_id: int, request_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM support_requests WHERE id = ? AND account_id = ?",
                       (request_id, account_id)).fetchone()
    if row is None:
        raise not_found("No support request with this id on this account.")
    return row


def get(rt: Runtime, account_id: int, request_id: str) -> dict[str, Any]:
    with rt.db.read() as conn:
        return request_json(conn, _row(conn, account_id, request_id))


def page(rt: Runtime, account_id: int, cursor: str | None, limit: int) -> dict[str, Any]:
    after = ledger.decode_cursor("support", cursor)
    with rt.db.read() as conn:
        rows, next_seq, has_more = ledger.seq_page(conn, "support_requests", account_id, after,
                                                   limit)
        items = [request_json(conn, row) for row in rows]
    return {"support_requests": items, "next_cursor": ledger.encode_cursor("support", next_seq),
            "has_more": has_more}


# -- the desk ---------------------------------------------------------------------------------


def advance(rt: Runtime, now: float) -> float | None:
    """Move requests along (refund-kind ones follow their refund request); return the next
    deadline."""
    with rt.db.tx() as conn:
        conn.execute(
            "UPDATE support_requests SET status = 'under_review', updated_at = ?"
            " WHERE status = 'received' AND review_at <= ? AND refund_request_id IS NULL",
            (now_ts(), now))
        for row in conn.execute(
                "SELECT * FROM support_requests WHERE status IN ('received', 'under_review')"
                " AND decide_at <= ? AND refund_request_id IS NULL ORDER BY seq",
                (now,)).fetchall():
            status, text, credited = _decide(conn, row)
            conn.execute(
                "UPDATE support_requests SET status = ?, resolution = ?, credited_entry_id = ?,"
                " updated_at = ? WHERE id = ?", (status, text, credited, now_ts(), row["id"]))
        (nxt,) = conn.execute(
            "SELECT MIN(CASE WHEN status = 'received' THEN MIN(review_at, decide_at)"
            " ELSE decide_at END) FROM support_requests"
            " WHERE status IN ('received', 'under_review') AND refund_request_id IS NULL"
        ).fetchone()
    return nxt


def _decide(conn: sqlite3.Connection, row: sqlite3.Row) -> tuple[str, str, str | None]:
    doc = json.loads(row["body"])
    account_id = row["account_id"]
    kind = row["kind"]
    if kind == "missing_purchase":
        return _credit_purchase(conn, account_id, doc["receipt"])
    if kind == "missing_coupon_bonus":
        return _grant_bonus(conn, account_id, doc["coupon_code"])
    if kind == "balance_dispute":
        return _restore_deductions(conn, account_id, row["id"], doc["ledger_entry_ids"])
    return _reopen(conn, account_id)


def _credit_purchase(conn: sqlite3.Connection, account_id: int, receipt: str
                     ) -> tuple[str, str, str | None]:
    pay = conn.execute("SELECT * FROM payments WHERE account_id = ? AND receipt = ?",
                       (account_id, receipt)).fetchone()
    if pay is None or pay["outcome"] != "succeeded":
        return "rejected", f"No completed payment with receipt {receipt} on this account.", None
    if pay["ledger_entry_id"]:
        return "resolved", "The purchase is already in the usage history.", pay["ledger_entry_id"]
    entry = ledger.record(
        conn, account_id, kind="purchase", amount_cents=pay["amount_cents"], receipt=receipt,
        timestamp=pay["paid_at"],
        description=f"Credit purchase ${pay['amount_cents'] / 100:.2f} (credited by support)")
    return "resolved", "The purchase was credited by hand.", entry["id"]


def _grant_bonus(conn: sqlite3.Connection, account_id: int, code: str
                 ) -> tuple[str, str, str | None]:
    use = conn.execute(
        "SELECT * FROM coupon_uses WHERE account_id = ? AND lower(code) = lower(?)"
        " AND bonus_cents > 0 ORDER BY ledger_entry_id IS NOT NULL, seq LIMIT 1",
        (account_id, code)).fetchone()
    if use is None:
        return "rejected", f"Coupon {code} was not applied to this subscription.", None
    if use["ledger_entry_id"]:
        return "resolved", "The bonus credits were already granted.", use["ledger_entry_id"]
    entry = ledger.record(
        conn, account_id, kind="coupon_bonus", amount_cents=use["bonus_cents"],
        coupon_code=use["code"],
        description=f"Bonus credits for coupon {use['code']} (activated by Cloud Operations)")
    return "resolved", "Cloud Operations activated the bonus credits.", entry["id"]


def _restore_deductions(conn: sqlite3.Connection, account_id: int, request_id: str,
                        entry_ids: list[str]) -> tuple[str, str, str | None]:
    credited = None
    for entry_id in entry_ids:
        entry = conn.execute(
            "SELECT * FROM ledger_entries e WHERE id = ? AND account_id = ? AND kind ="
            " 'adjustment' AND amount_cents < 0 AND NOT EXISTS (SELECT 1 FROM restorations r"
            " WHERE r.entry_id = e.id)", (entry_id, account_id)).fetchone()
        if entry is None:
            continue
        back = ledger.record(
            conn, account_id, kind="adjustment", amount_cents=-entry["amount_cents"],
            description=f"Credits restored after dispute {request_id} (entry {entry_id})")
        conn.execute("INSERT INTO restorations (entry_id, account_id, restore_entry_id)"
                     " VALUES (?, ?, ?)", (entry_id, account_id, back["id"]))
        credited = back["id"]
    if credited is None:
        return ("rejected", "The usage history explains the balance; nothing was taken in "
                "error.", None)
    return "resolved", "The deduction was made in error; the credits were restored.", credited


def _reopen(conn: sqlite3.Connection, account_id: int) -> tuple[str, str, str | None]:
    if accounts.get_row(conn, account_id)["status"] != "closed":
        return "rejected", "The account is open; there is nothing to restore.", None
    accounts.update(conn, account_id, status="active", plan="pay_as_you_go", renews_at=None,
                    expires_at=None, grace_ends_at=None)
    removed = conn.execute(
        "SELECT * FROM ledger_entries WHERE account_id = ? AND kind = 'adjustment'"
        " AND amount_cents < 0 AND description LIKE ? ORDER BY seq DESC LIMIT 1",
        (account_id, f"{CLOSURE_PREFIX}%")).fetchone()
    if removed is None:
        return "resolved", "The account was reopened under Pay-As-You-Go.", None
    back = ledger.record(
        conn, account_id, kind="adjustment", amount_cents=-removed["amount_cents"],
        description="Credits restored by support (account reopened under Pay-As-You-Go)")
    return ("resolved", "As a goodwill gesture the account was reopened under Pay-As-You-Go "
            "and its credits restored.", back["id"])
