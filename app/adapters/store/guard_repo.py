"""What the account guard reads beside the cached ledger (component "guard"): the payments and
coupons the cloud reported, and when each balance/ledger mismatch was first seen.

Payments and coupons are replaced on each read of the recent window (their ledger entry can
fill in later, so a cursor alone would miss the change); the ledger itself is the cache's, read
here in recording order, which is the order the chain of balances holds in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.adapters.store.db import Database, from_text, to_text
from app.core.account_guard import CouponUse, Payment
from app.core.model import EntryKind, LedgerEntry

MIGRATIONS = [
    """
    CREATE TABLE guard_payments (
        receipt TEXT PRIMARY KEY,
        amount_cents INTEGER NOT NULL,
        paid_at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        ledger_entry_id TEXT
    );
    CREATE TABLE guard_coupons (
        code TEXT NOT NULL,
        applied_at TEXT NOT NULL,
        bonus_cents INTEGER NOT NULL,
        ledger_entry_id TEXT,
        PRIMARY KEY (code, applied_at)
    );
    CREATE TABLE guard_first_seen (key TEXT PRIMARY KEY, at TEXT NOT NULL);
    CREATE TABLE guard_sources (
        what TEXT PRIMARY KEY,
        offered INTEGER NOT NULL,
        checked_at TEXT NOT NULL
    )
    """,
    # Traps and plan reminders the operator was told about: each once, ever, even across
    # restarts and between the tray app and the command line.
    "CREATE TABLE guard_notices (key TEXT PRIMARY KEY, at TEXT NOT NULL)",
]


class GuardRepo:
    def __init__(self, db: Database):
        self._db = db
        db.migrate("guard", MIGRATIONS)

    def store_payments(self, payments: Sequence[Payment], since: datetime) -> None:
        """The cloud's payments paid at or after `since`, as it reports them now."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM guard_payments WHERE paid_at >= ?", (to_text(since),))
            conn.executemany(
                "INSERT OR REPLACE INTO guard_payments(receipt, amount_cents, paid_at, outcome,"
                " ledger_entry_id) VALUES (?,?,?,?,?)",
                [(p.receipt, p.amount_cents, to_text(p.at), p.outcome, p.ledger_entry_id)
                 for p in payments])

    def store_coupons(self, coupons: Sequence[CouponUse], since: datetime) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM guard_coupons WHERE applied_at >= ?", (to_text(since),))
            conn.executemany(
                "INSERT OR REPLACE INTO guard_coupons(code, applied_at, bonus_cents,"
                " ledger_entry_id) VALUES (?,?,?,?)",
                [(c.code, to_text(c.applied_at), c.bonus_cents, c.ledger_entry_id)
                 for c in coupons])

    def payments(self) -> list[Payment]:
        rows = self._db.query("SELECT * FROM guard_payments ORDER BY paid_at")
        return [Payment(r["receipt"], r["amount_cents"], _time(r["paid_at"]), r["outcome"],
                        r["ledger_entry_id"]) for r in rows]

    def coupons(self) -> list[CouponUse]:
        rows = self._db.query("SELECT * FROM guard_coupons ORDER BY applied_at")
        return [CouponUse(r["code"], _time(r["applied_at"]), r["bonus_cents"],
                          r["ledger_entry_id"]) for r in rows]

    def source(self, what: str, offered: bool, at: datetime) -> None:
        """Whether the cloud offers /v1/payments, /v1/coupons (a 404 means it does not)."""
        with self._db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO guard_sources(what, offered, checked_at)"
                         " VALUES (?,?,?)", (what, int(offered), to_text(at)))

    def sources(self) -> dict[str, bool]:
        return {r["what"]: bool(r["offered"])
                for r in self._db.query("SELECT what, offered FROM guard_sources")}

    # -- mismatches -----------------------------------------------------------------------------

    def first_seen(self, key: str | None, now: datetime) -> dict[str, datetime]:
        """Remember when the current mismatch was first seen; forget the ones that ended."""
        with self._db.transaction() as conn:
            if key is None:
                conn.execute("DELETE FROM guard_first_seen")
                return {}
            conn.execute("DELETE FROM guard_first_seen WHERE key != ?", (key,))
            conn.execute("INSERT OR IGNORE INTO guard_first_seen(key, at) VALUES (?, ?)",
                         (key, to_text(now)))
            row = conn.execute("SELECT at FROM guard_first_seen WHERE key = ?",
                               (key,)).fetchone()
            return {key: _time(row["at"])}

    # -- notices --------------------------------------------------------------------------------

    def untold(self, keys: Sequence[str]) -> list[str]:
        """The keys nobody was told about yet (nothing marked: claim_notices does that)."""
        told = {r["key"] for r in self._db.query("SELECT key FROM guard_notices")}
        return [k for k in keys if k not in told]

    def claim_notices(self, keys: Sequence[str], now: datetime) -> list[str]:
        """The keys nobody was told about yet, now marked told (in one transaction, so two
        processes never both notify)."""
        fresh = []
        with self._db.transaction() as conn:
            for key in keys:
                cur = conn.execute("INSERT OR IGNORE INTO guard_notices(key, at) VALUES (?, ?)",
                                   (key, to_text(now)))
                if cur.rowcount:
                    fresh.append(key)
        return fresh

    # -- the cached ledger, in recording order --------------------------------------------------

    def entries_in_order(self, since: datetime) -> list[LedgerEntry]:
        has_cache = self._db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name ="
                                   " 'ledger_entries'")
        if not has_cache:
            return []
        # By recording order from the first recent entry on: an entry recorded late with an
        # old timestamp stays between its neighbours, so the chain of balances holds.
        rows = self._db.query("SELECT * FROM ledger_entries WHERE seq >= (SELECT MIN(seq) FROM"
                              " ledger_entries WHERE timestamp >= ?) ORDER BY seq",
                              (to_text(since),))
        return [LedgerEntry(
            id=r["id"], timestamp=_time(r["timestamp"]), kind=EntryKind(r["kind"]),
            amount_cents=r["amount_cents"], balance_after_cents=r["balance_after_cents"],
            feature=r["feature"], job_id=r["job_id"], receipt=r["receipt"],
            coupon_code=r["coupon_code"], description=r["description"],
            refund_request_id=r["refund_request_id"]) for r in rows]


def _time(text: str) -> datetime:
    moment = from_text(text)
    assert moment is not None
    return moment
