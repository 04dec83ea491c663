"""Accounts: who a token belongs to and the subscription facts the monitor watches."""

from __future__ import annotations

import sqlite3
from typing import Any

PLANS = ("basic", "pro", "pay_as_you_go")
STATUSES = ("active", "suspended", "expired", "closed")


def find_account(conn: sqlite3.Connection, email: str) -> int | None:
    row = conn.execute("SELECT id FROM accounts WHERE email = ?", (email,)).fetchone()
    return int(row["id"]) if row else None


def create_account(
    conn: sqlite3.Connection,
    email: str,
    *,
    plan: str = "basic",
    status: str = "active",
    primary_payment_method: str = "credits",
    renews_at: str | None = None,
    dashboard_url: str | None = None,
    booths: int = 1,
) -> int:
    cur = conn.execute(
        "INSERT INTO accounts (email, plan, status, primary_payment_method, renews_at,"
        " dashboard_url, booths) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (email, plan, status, primary_payment_method, renews_at, dashboard_url, booths),
    )
    return int(cur.lastrowid or 0)


def get_row(conn: sqlite3.Connection, account_id: int) -> sqlite3.Row:
    return conn.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()


def account_json(conn: sqlite3.Connection, account_id: int) -> dict[str, Any]:
    row = get_row(conn, account_id)
    return {
        "email": row["email"],
        "plan": row["plan"],
        "status": row["status"],
        "primary_payment_method": row["primary_payment_method"],
        "renews_at": row["renews_at"],
        "expires_at": row["expires_at"],
        "grace_ends_at": row["grace_ends_at"],
        "dashboard_url": row["dashboard_url"],
        "booths": row["booths"],
    }


def update(conn: sqlite3.Connection, account_id: int, **fields: Any) -> None:
    allowed = {"plan", "status", "renews_at", "expires_at", "grace_ends_at", "booths"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"cannot update account fields {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ?" for name in fields)
    conn.execute(f"UPDATE accounts SET {assignments} WHERE id = ?", (*fields.values(), account_id))
