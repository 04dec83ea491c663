"""The credit ledger: the only way money moves, and how clients page through it.

Every change to a balance is one ledger row written in the same transaction as the balance
update, so `accounts.balance_cents` always equals the sum of the account's entries.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from typing import Any

from app.democloud.clock import new_id, now_ts
from app.democloud.problems import bad_request, unprocessable

ENTRY_KINDS = (
    "ai_run",
    "sms",
    "purchase",
    "subscription_renewal",
    "coupon_bonus",
    "refund",
    "adjustment",
)
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def record(
    conn: sqlite3.Connection,
    account_id: int,
    *,
    kind: str,
    amount_cents: int,
    description: str,
    timestamp: str | None = None,
    feature: str | None = None,
    job_id: str | None = None,
    receipt: str | None = None,
    coupon_code: str | None = None,
    refund_request_id: str | None = None,
    entry_id: str | None = None,
) -> dict[str, Any]:
    """Append one entry and move the balance with it. Call inside Database.tx()."""
    if kind not in ENTRY_KINDS:
        raise ValueError(f"unknown ledger entry kind {kind!r}")
    (balance,) = conn.execute(
        "SELECT balance_cents FROM accounts WHERE id = ?", (account_id,)
    ).fetchone()
    after = balance + amount_cents
    entry_id = entry_id or new_id("le")
    conn.execute("UPDATE accounts SET balance_cents = ? WHERE id = ?", (after, account_id))
    conn.execute(
        "INSERT INTO ledger_entries (id, account_id, timestamp, kind, feature, amount_cents,"
        " balance_after_cents, job_id, receipt, coupon_code, refund_request_id, description)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry_id,
            account_id,
            timestamp or now_ts(),
            kind,
            feature,
            amount_cents,
            after,
            job_id,
            receipt,
            coupon_code,
            refund_request_id,
            description,
        ),
    )
    _link_payment_side(conn, account_id, entry_id, kind, receipt, coupon_code)
    return get_entry(conn, account_id, entry_id) or {}


def _link_payment_side(
    conn: sqlite3.Connection, account_id: int, entry_id: str, kind: str,
    receipt: str | None, coupon_code: str | None,
) -> None:
    """The entry that credits a payment or grants a coupon's bonus is named on it (/v1/payments,
    /v1/coupons), in the same transaction as the entry itself."""
    if kind == "purchase" and receipt:
        conn.execute(
            "UPDATE payments SET ledger_entry_id = ? WHERE account_id = ? AND receipt = ?"
            " AND ledger_entry_id IS NULL",
            (entry_id, account_id, receipt),
        )
    elif kind == "coupon_bonus" and coupon_code:
        conn.execute(
            "UPDATE coupon_uses SET ledger_entry_id = ? WHERE seq = (SELECT seq FROM coupon_uses"
            " WHERE account_id = ? AND lower(code) = lower(?) AND ledger_entry_id IS NULL"
            " AND bonus_cents > 0 ORDER BY seq LIMIT 1)",
            (entry_id, account_id, coupon_code),
        )


def entry_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "timestamp": row["timestamp"],
        "kind": row["kind"],
        "feature": row["feature"],
        "amount_cents": row["amount_cents"],
        "balance_after_cents": row["balance_after_cents"],
        "job_id": row["job_id"],
        "receipt": row["receipt"],
        "coupon_code": row["coupon_code"],
        "refund_request_id": row["refund_request_id"],
        "description": row["description"],
    }


def get_entry(conn: sqlite3.Connection, account_id: int, entry_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT * FROM ledger_entries WHERE id = ? AND account_id = ?", (entry_id, account_id)
    ).fetchone()
    return entry_json(row) if row else None


def newest_seq(conn: sqlite3.Connection, account_id: int) -> int:
    (seq,) = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM ledger_entries WHERE account_id = ?", (account_id,)
    ).fetchone()
    return int(seq)


def balance_json(conn: sqlite3.Connection, account_id: int) -> dict[str, Any]:
    (balance,) = conn.execute(
        "SELECT balance_cents FROM accounts WHERE id = ?", (account_id,)
    ).fetchone()
    last = conn.execute(
        "SELECT id FROM ledger_entries WHERE account_id = ? ORDER BY seq DESC LIMIT 1",
        (account_id,),
    ).fetchone()
    return {
        "balance_cents": balance,
        "currency": "USD",
        "as_of": now_ts(),
        "last_entry_id": last["id"] if last else None,
    }


def ledger_sum(conn: sqlite3.Connection, account_id: int) -> int:
    (total,) = conn.execute(
        "SELECT COALESCE(SUM(amount_cents), 0) FROM ledger_entries WHERE account_id = ?",
        (account_id,),
    ).fetchone()
    return int(total)


# Cursors are opaque to clients but simple for us: a tag (so a refund cursor cannot be replayed
# against the ledger) and the recording sequence number the next page starts after.
def encode_cursor(tag: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{tag}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(tag: str, cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        found_tag, _, number = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        seq = int(number)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise bad_request("The cursor is not one this server issued.") from exc
    if found_tag != tag or not number.isdigit():
        raise bad_request("The cursor is not one this server issued.")
    return seq


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit():
        raise bad_request("limit must be a whole number.")
    limit = int(raw)
    if not 1 <= limit <= MAX_LIMIT:
        raise unprocessable(f"limit must be between 1 and {MAX_LIMIT}.")
    return limit


def seq_page(
    conn: sqlite3.Connection, table: str, account_id: int, after_seq: int, limit: int,
    extra_where: str = "", extra_param: Any = None, upto_seq: int | None = None,
) -> tuple[list[sqlite3.Row], int, bool]:
    """Rows recorded after `after_seq`, oldest first, and the seq a cursor resumes from.

    When nothing matching is left, the cursor moves past everything recorded so far, including
    rows the extra filter skipped, so an incremental reader never sees them twice. `upto_seq`
    hides what was recorded later (a lagging replica); the cursor stops there, so the hidden
    rows come on a later page."""
    sql = f"SELECT * FROM {table} WHERE account_id = ? AND seq > ?"
    params: list[Any] = [account_id, after_seq]
    if upto_seq is not None:
        sql += " AND seq <= ?"
        params.append(upto_seq)
    if extra_where:
        sql += f" AND {extra_where}"
        params.append(extra_param)
    rows = conn.execute(sql + " ORDER BY seq LIMIT ?", (*params, limit + 1)).fetchall()
    has_more = len(rows) > limit
    rows = rows[:limit]
    if has_more:
        return rows, rows[-1]["seq"], True
    (last,) = conn.execute(
        f"SELECT COALESCE(MAX(seq), 0) FROM {table} WHERE account_id = ?", (account_id,)
    ).fetchone()
    if upto_seq is not None:
        last = min(last, upto_seq)
    return rows, max(after_seq, last), False


def page(
    conn: sqlite3.Connection,
    account_id: int,
    *,
    after_seq: int,
    since: str | None,
    limit: int,
    upto_seq: int | None = None,
) -> dict[str, Any]:
    """One page in recording order. Call inside Database.read() so the cursor matches the page."""
    rows, next_seq, has_more = seq_page(
        conn, "ledger_entries", account_id, after_seq, limit,
        *(("timestamp >= ?", since) if since is not None else ()), upto_seq=upto_seq,
    )
    return {
        "entries": [entry_json(row) for row in rows],
        "next_cursor": encode_cursor("ledger", next_seq),
        "has_more": has_more,
    }


def schedule(
    conn: sqlite3.Connection,
    account_id: int,
    *,
    due_at: float,
    timestamp: str,
    kind: str,
    amount_cents: int,
    description: str,
    receipt: str | None = None,
    coupon_code: str | None = None,
    feature: str | None = None,
    job_id: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO scheduled_entries (account_id, due_at, timestamp, kind, amount_cents,"
        " receipt, coupon_code, description, feature, job_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (account_id, due_at, timestamp, kind, amount_cents, receipt, coupon_code, description,
         feature, job_id),
    )


def record_due(conn: sqlite3.Connection, now: float) -> float | None:
    """Write scheduled entries whose time has come; return when the next one is due."""
    for row in conn.execute(
        "SELECT * FROM scheduled_entries WHERE due_at <= ? ORDER BY due_at, id", (now,)
    ).fetchall():
        conn.execute("DELETE FROM scheduled_entries WHERE id = ?", (row["id"],))
        if row["kind"] in ("ai_run", "sms") and _balance(conn, row["account_id"]) < -row[
                "amount_cents"]:
            continue  # the other booth hits zero and pauses, like a real one
        record(
            conn,
            row["account_id"],
            kind=row["kind"],
            amount_cents=row["amount_cents"],
            description=row["description"],
            timestamp=row["timestamp"],
            receipt=row["receipt"],
            coupon_code=row["coupon_code"],
            feature=row["feature"],
            job_id=row["job_id"],
        )
    (nxt,) = conn.execute("SELECT MIN(due_at) FROM scheduled_entries").fetchone()
    return nxt


def _balance(conn: sqlite3.Connection, account_id: int) -> int:
    (balance,) = conn.execute("SELECT balance_cents FROM accounts WHERE id = ?",
                              (account_id,)).fetchone()
    return int(balance)
