"""The demo cloud's SQLite file: schema, durability settings and the one-writer discipline.

One connection guarded by one lock: the demo's load is a handful of booths, and serialising every
read-check-write (idempotency, balance checks, charges) is what makes them trivially atomic.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = "1"

# A busy night's charges are scheduled like a late purchase, but they are other booths' AI
# runs: they carry the feature and the job that a usage history shows for a charge.
ADDED_COLUMNS = (("scheduled_entries", "feature"), ("scheduled_entries", "job_id"))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    plan TEXT NOT NULL,
    status TEXT NOT NULL,
    primary_payment_method TEXT NOT NULL,
    renews_at TEXT,
    expires_at TEXT,
    grace_ends_at TEXT,
    dashboard_url TEXT,
    booths INTEGER NOT NULL,
    balance_cents INTEGER NOT NULL DEFAULT 0
);
-- seq is the recording order the ledger cursor walks: timestamps may arrive out of order.
CREATE TABLE IF NOT EXISTS ledger_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    timestamp TEXT NOT NULL,
    kind TEXT NOT NULL,
    feature TEXT,
    amount_cents INTEGER NOT NULL,
    balance_after_cents INTEGER NOT NULL,
    job_id TEXT,
    receipt TEXT,
    coupon_code TEXT,
    refund_request_id TEXT,
    description TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_account ON ledger_entries(account_id, seq);
CREATE INDEX IF NOT EXISTS ledger_by_job ON ledger_entries(job_id);
-- Entries a scenario promised for later (a purchase that reaches the ledger late).
CREATE TABLE IF NOT EXISTS scheduled_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    due_at REAL NOT NULL,
    timestamp TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    receipt TEXT,
    coupon_code TEXT,
    description TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    feature TEXT NOT NULL,
    status TEXT NOT NULL,
    failure_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    charged_cents INTEGER NOT NULL DEFAULT 0,
    ledger_entry_id TEXT,
    idempotency_key TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    booth_id TEXT,
    input BLOB NOT NULL,
    finish_at REAL,          -- wall clock, so a restarted server still knows when to finish
    planned_failure TEXT     -- outcome drawn at start, so a restart keeps it
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, seq);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    account_id INTEGER NOT NULL,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (account_id, scope, key)
);
CREATE TABLE IF NOT EXISTS refund_requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    ledger_entry_id TEXT NOT NULL,
    job_id TEXT,
    feature TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    reason TEXT NOT NULL,
    refund_entry_id TEXT,
    resolution TEXT,
    charged_at TEXT NOT NULL,
    submitted_at TEXT,
    failed_at TEXT,
    account_email TEXT NOT NULL,
    booth_name TEXT,
    details TEXT,
    idempotency_key TEXT NOT NULL,
    review_at REAL NOT NULL,
    decide_at REAL NOT NULL,
    UNIQUE (account_id, ledger_entry_id)
);
-- Contract v1 additions (issue 11): the payment side, coupons, and support requests.
CREATE TABLE IF NOT EXISTS payments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    receipt TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    paid_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    ledger_entry_id TEXT,
    UNIQUE (account_id, receipt)
);
CREATE TABLE IF NOT EXISTS coupon_uses (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    code TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    bonus_cents INTEGER NOT NULL,
    ledger_entry_id TEXT
);
CREATE TABLE IF NOT EXISTS support_requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    subject_key TEXT,
    body TEXT NOT NULL,
    attachments INTEGER NOT NULL DEFAULT 0,
    resolution TEXT,
    credited_entry_id TEXT,
    refund_request_id TEXT,
    idempotency_key TEXT NOT NULL,
    review_at REAL NOT NULL,
    decide_at REAL NOT NULL
);
-- Deductions support gave back after a dispute (each one at most once).
CREATE TABLE IF NOT EXISTS restorations (
    entry_id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    restore_entry_id TEXT NOT NULL
);
"""


class Database:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        # isolation_level=None: we issue BEGIN ourselves, so a transaction is exactly one block.
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        with self.tx() as conn:
            _apply_schema(conn)
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (SCHEMA_VERSION,),
            )

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything inside commits together or not at all."""
        with self.lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for multi-query reads (a page plus its cursor)."""
        with self.lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self._conn.close()


def _apply_schema(conn: sqlite3.Connection) -> None:
    # executescript() would COMMIT our open transaction first, so run statement by statement.
    for statement in _SCHEMA.split(";"):
        body = "\n".join(
            line for line in statement.splitlines() if not line.strip().startswith("--")
        ).strip()
        if body:
            conn.execute(body)
    # Columns added after a demo file may have been made (kept additive: schema version 1).
    for table, column in ADDED_COLUMNS:
        have = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
