"""The payment side and the coupons: what the card processor and the subscription saw.

A payment is recorded when the card was charged; the ledger entry that credits it may come
minutes later or, in the vendor's worst cases, never (that is what support is for). A coupon
applied to the subscription promises bonus credits that need a manual grant. Either way the
entry, once written, is named on the payment or coupon (ledger.record links it).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from app.democloud import ledger
from app.democloud.clock import new_id, now_ts


def payment_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "receipt": row["receipt"],
        "amount_cents": row["amount_cents"],
        "paid_at": row["paid_at"],
        "outcome": row["outcome"],
        "purpose": "credit_purchase",
        "ledger_entry_id": row["ledger_entry_id"],
    }


def coupon_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "code": row["code"],
        "applied_at": row["applied_at"],
        "bonus_cents": row["bonus_cents"],
        "ledger_entry_id": row["ledger_entry_id"],
    }


def record_payment(
    conn: sqlite3.Connection, account_id: int, *, receipt: str, amount_cents: int,
    paid_at: str | None = None, outcome: str = "succeeded",
) -> dict[str, Any]:
    conn.execute(
        "INSERT INTO payments (id, account_id, receipt, amount_cents, paid_at, outcome)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (new_id("pay"), account_id, receipt, amount_cents, paid_at or now_ts(), outcome),
    )
    row = conn.execute(
        "SELECT * FROM payments WHERE account_id = ? AND receipt = ?", (account_id, receipt)
    ).fetchone()
    return payment_json(row)


def apply_coupon(
    conn: sqlite3.Connection, account_id: int, *, code: str, bonus_cents: int,
    applied_at: str | None = None,
) -> dict[str, Any]:
    coupon_id = new_id("cpn")
    conn.execute(
        "INSERT INTO coupon_uses (id, account_id, code, applied_at, bonus_cents)"
        " VALUES (?, ?, ?, ?, ?)",
        (coupon_id, account_id, code, applied_at or now_ts(), bonus_cents),
    )
    return coupon_json(conn.execute("SELECT * FROM coupon_uses WHERE id = ?",
                                    (coupon_id,)).fetchone())


def _page(
    conn: sqlite3.Connection, table: str, tag: str, time_column: str, account_id: int,
    cursor: str | None, since: str | None, limit: int, to_json: Any,
) -> dict[str, Any]:
    after = ledger.decode_cursor(tag, cursor)
    rows, next_seq, has_more = ledger.seq_page(
        conn, table, account_id, after, limit,
        *((f"{time_column} >= ?", since) if since is not None else ()),
    )
    return {table if table == "payments" else "coupons": [to_json(r) for r in rows],
            "next_cursor": ledger.encode_cursor(tag, next_seq), "has_more": has_more}


def payments_page(conn: sqlite3.Connection, account_id: int, cursor: str | None,
                  since: str | None, limit: int) -> dict[str, Any]:
    return _page(conn, "payments", "payments", "paid_at", account_id, cursor, since, limit,
                 payment_json)


def coupons_page(conn: sqlite3.Connection, account_id: int, cursor: str | None,
                 since: str | None, limit: int) -> dict[str, Any]:
    return _page(conn, "coupon_uses", "coupons", "applied_at", account_id, cursor, since, limit,
                 coupon_json)


def backfill(conn: sqlite3.Connection, account_id: int) -> None:
    """Purchases and coupon bonuses already in the ledger get their payment and coupon rows:
    the seeded history, and databases written before these routes existed."""
    for entry in conn.execute(
        "SELECT * FROM ledger_entries e WHERE account_id = ? AND kind = 'purchase'"
        " AND receipt IS NOT NULL AND NOT EXISTS (SELECT 1 FROM payments p"
        " WHERE p.account_id = e.account_id AND p.receipt = e.receipt) ORDER BY seq",
        (account_id,),
    ).fetchall():
        conn.execute(
            "INSERT INTO payments (id, account_id, receipt, amount_cents, paid_at, outcome,"
            " ledger_entry_id) VALUES (?, ?, ?, ?, ?, 'succeeded', ?)",
            (new_id("pay"), account_id, entry["receipt"], entry["amount_cents"],
             entry["timestamp"], entry["id"]),
        )
    for entry in conn.execute(
        "SELECT * FROM ledger_entries e WHERE account_id = ? AND kind = 'coupon_bonus'"
        " AND coupon_code IS NOT NULL AND NOT EXISTS (SELECT 1 FROM coupon_uses c"
        " WHERE c.ledger_entry_id = e.id) ORDER BY seq",
        (account_id,),
    ).fetchall():
        conn.execute(
            "INSERT INTO coupon_uses (id, account_id, code, applied_at, bonus_cents,"
            " ledger_entry_id) VALUES (?, ?, ?, ?, ?, ?)",
            (new_id("cpn"), account_id, entry["coupon_code"], entry["timestamp"],
             entry["amount_cents"], entry["id"]),
        )
