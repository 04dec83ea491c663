"""The refund outbox's schema and rows: how claims, filings and attempts are stored in SQLite.

The filing tables have the columns app.adapters.store.outbox expects (REFUND_TABLES names them).
"""

from __future__ import annotations

import sqlite3

from app.adapters.store.db import from_text
from app.adapters.store.outbox import OutboxTables, from_epoch
from app.core.refunds import Claim, ClaimStatus, Rule

MIGRATIONS = [
    """
    CREATE TABLE refund_claims (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        ledger_entry_id TEXT NOT NULL UNIQUE,
        rule TEXT NOT NULL,
        feature TEXT NOT NULL,
        amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
        charged_at TEXT NOT NULL,
        reason TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        job_id TEXT,
        cloud_job_id TEXT,
        job_key TEXT,
        submitted_at TEXT,
        failed_at TEXT,
        error TEXT,
        hold_until REAL,
        filed_at TEXT,
        channel TEXT,
        remote_id TEXT,
        resolution TEXT,
        refund_entry_id TEXT UNIQUE,
        refunded_cents INTEGER,
        refunded_at TEXT,
        checked_at REAL
    );
    CREATE INDEX refund_claims_status ON refund_claims(status);
    CREATE TABLE refund_filings (
        claim_id TEXT NOT NULL REFERENCES refund_claims(id),
        channel TEXT NOT NULL,
        state TEXT NOT NULL,
        body TEXT,
        message_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        last_error_kind TEXT,
        owner TEXT,
        lease_until REAL,
        filed_at TEXT,
        remote_id TEXT,
        PRIMARY KEY (claim_id, channel)
    );
    CREATE TABLE refund_messages (
        message_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        recipient TEXT NOT NULL,
        raw BLOB NOT NULL,
        claim_ids TEXT NOT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        lease_until REAL,
        last_error TEXT
    );
    CREATE TABLE refund_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        channel TEXT NOT NULL,
        claim_id TEXT,
        message_id TEXT,
        outcome TEXT NOT NULL,
        detail TEXT
    );
    CREATE TABLE refund_channels (
        channel TEXT PRIMARY KEY,
        failures INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        last_error TEXT,
        last_error_kind TEXT,
        failing_since TEXT
    )
    """,
    "ALTER TABLE refund_claims ADD COLUMN photo TEXT",
    # Which filing made the claim 'filed' ("cloud:<pass>" or "email:<Message-ID>"): the batch
    # one "Refund requested" notice names, so a notice a crash lost can be told again.
    "ALTER TABLE refund_claims ADD COLUMN filed_via TEXT",
]

REFUND_TABLES = OutboxTables(items="refund_claims", filings="refund_filings",
                             messages="refund_messages", attempts="refund_attempts",
                             channels="refund_channels", item_col="claim_id")


def claim_from_row(row: sqlite3.Row) -> Claim:
    charged = from_text(row["charged_at"])
    created = from_text(row["created_at"])
    assert charged is not None and created is not None
    return Claim(
        id=row["id"], ledger_entry_id=row["ledger_entry_id"], rule=Rule(row["rule"]),
        feature=row["feature"], amount_cents=row["amount_cents"], charged_at=charged,
        reason=row["reason"], idempotency_key=row["idempotency_key"], created_at=created,
        status=ClaimStatus(row["status"]), job_id=row["job_id"],
        cloud_job_id=row["cloud_job_id"], job_key=row["job_key"],
        submitted_at=from_text(row["submitted_at"]), failed_at=from_text(row["failed_at"]),
        error=row["error"], hold_until=from_epoch(row["hold_until"]),
        updated_at=from_text(row["updated_at"]), filed_at=from_text(row["filed_at"]),
        channel=row["channel"], remote_id=row["remote_id"], resolution=row["resolution"],
        refund_entry_id=row["refund_entry_id"], refunded_cents=row["refunded_cents"],
        refunded_at=from_text(row["refunded_at"]), photo=row["photo"],
    )
