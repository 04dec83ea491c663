"""Statistics of the store for the diagnostics zip: what the file is, never what it holds
(no emails, no photo names, no amounts): schema versions, rows per table, jobs and claims per
state, SQLite's own integrity check and the journal mode."""

from __future__ import annotations

import sqlite3
from typing import Any

from app.adapters.store.db import Database

# table -> the column whose values are counted
PER_STATE = {"jobs": "state", "refund_claims": "status", "refund_filings": "state",
             "refund_messages": "state"}


def store_statistics(db: Database) -> dict[str, Any]:
    """Reads only; works on a store of any version, even one whose components this build does
    not know (it lists what is there)."""
    tables = [r[0] for r in db.query(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name")]
    rows = {name: int(db.query(f'SELECT COUNT(*) FROM "{name}"')[0][0]) for name in tables}
    per_state: dict[str, dict[str, int]] = {}
    for table, column in PER_STATE.items():
        if table in tables:
            per_state[table] = {str(r[0]): int(r[1]) for r in db.query(
                f'SELECT "{column}", COUNT(*) FROM "{table}" GROUP BY "{column}" ORDER BY 1')}
    try:
        size = db.path.stat().st_size
    except OSError:
        size = None
    return {
        "file": db.path.name,
        "bytes": size,
        "sqlite_version": sqlite3.sqlite_version,
        "journal_mode": str(db.query("PRAGMA journal_mode")[0][0]),
        "schema_versions": {str(r[0]): int(r[1]) for r in db.query(
            "SELECT component, version FROM schema_versions ORDER BY component")},
        "rows": rows,
        "per_state": per_state,
        "integrity_check": db.integrity_check(),
    }
