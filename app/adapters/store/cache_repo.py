"""The cached account, balance and usage history (implements app.core.cache.CacheStore)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from app.adapters.store.db import Database, from_text, to_text
from app.core.cache import CONTACT_FAILURES, CachedState, CloudContact, SyncHealth
from app.core.model import (
    KNOWN_FEATURES,
    Account,
    AccountStatus,
    Balance,
    EntryKind,
    FeatureInfo,
    LedgerEntry,
    PaymentMethod,
    Plan,
)

MIGRATIONS = [
    """
    CREATE TABLE cache_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        account_json TEXT,
        balance_cents INTEGER,
        cloud_as_of TEXT,
        confirmed_at TEXT,
        last_attempt_at TEXT,
        last_error TEXT,
        last_error_kind TEXT,
        failing_since TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        ledger_cursor TEXT
    );
    INSERT INTO cache_state(id) VALUES (1);
    CREATE TABLE ledger_entries (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        timestamp TEXT NOT NULL,
        kind TEXT NOT NULL,
        feature TEXT,
        amount_cents INTEGER NOT NULL,
        balance_after_cents INTEGER NOT NULL,
        job_id TEXT,
        receipt TEXT,
        coupon_code TEXT,
        description TEXT
    );
    CREATE INDEX ledger_entries_job ON ledger_entries(job_id);
    CREATE INDEX ledger_entries_time ON ledger_entries(timestamp);
    CREATE TABLE active_alerts (key TEXT PRIMARY KEY)
    """,
    "ALTER TABLE ledger_entries ADD COLUMN refund_request_id TEXT",
    # The link state shared by the sync, the job path and the connection check (CloudContact).
    """
    CREATE TABLE cloud_contact (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        ok_at TEXT,
        failing_since TEXT,
        kind TEXT,
        message TEXT,
        source TEXT,
        updated_at TEXT
    );
    INSERT INTO cloud_contact(id) VALUES (1)
    """,
    "ALTER TABLE cache_state ADD COLUMN ledger_behind INTEGER NOT NULL DEFAULT 0",
    # The cloud's feature list (GET /v1/features) in its order, and when it was read.
    """
    CREATE TABLE features (
        id TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        label TEXT NOT NULL,
        price_cents INTEGER
    );
    ALTER TABLE cache_state ADD COLUMN features_read_at TEXT
    """,
    # The deadline an active alert was last announced with (alerts.sooner_alerts).
    "ALTER TABLE active_alerts ADD COLUMN said_due TEXT",
]


class CacheRepo:
    def __init__(self, db: Database):
        self._db = db
        db.migrate("cache", MIGRATIONS)

    def load_cache(self) -> CachedState:
        row = self._db.query("SELECT * FROM cache_state WHERE id = 1")[0]
        account = _account_from_json(row["account_json"]) if row["account_json"] else None
        features = tuple(
            FeatureInfo(r["id"], r["label"], r["price_cents"])
            for r in self._db.query("SELECT * FROM features ORDER BY position"))
        return CachedState(
            account=account,
            features=features or KNOWN_FEATURES,
            features_read_at=from_text(row["features_read_at"]),
            contact=self.load_contact(),
            balance_cents=row["balance_cents"],
            health=SyncHealth(
                confirmed_at=from_text(row["confirmed_at"]),
                cloud_as_of=from_text(row["cloud_as_of"]),
                last_attempt_at=from_text(row["last_attempt_at"]),
                last_error=row["last_error"],
                last_error_kind=row["last_error_kind"],
                failing_since=from_text(row["failing_since"]),
                consecutive_failures=row["consecutive_failures"],
                ledger_cursor=row["ledger_cursor"],
                ledger_behind=bool(row["ledger_behind"]),
            ),
        )

    def commit_ledger_page(self, entries: list[LedgerEntry], cursor: str) -> None:
        with self._db.transaction() as conn:
            start = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM ledger_entries").fetchone()[0]
            for offset, e in enumerate(entries, start=1):
                conn.execute(
                    "INSERT OR IGNORE INTO ledger_entries(id, seq, timestamp, kind, feature,"
                    " amount_cents, balance_after_cents, job_id, receipt, coupon_code, description,"
                    " refund_request_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (e.id, start + offset, to_text(e.timestamp), e.kind.value, e.feature,
                     e.amount_cents, e.balance_after_cents, e.job_id, e.receipt, e.coupon_code,
                     e.description, e.refund_request_id),
                )
            conn.execute("UPDATE cache_state SET ledger_cursor = ? WHERE id = 1", (cursor,))

    def commit_sync(self, account: Account, balance: Balance, confirmed_at: datetime, *,
                    ledger_behind: bool = False) -> None:
        with self._db.transaction() as conn:
            _contact(conn, confirmed_at, "sync", None, None)
            conn.execute(
                "UPDATE cache_state SET account_json=?, balance_cents=?, cloud_as_of=?,"
                " confirmed_at=?, last_attempt_at=?, last_error=NULL, last_error_kind=NULL,"
                " failing_since=NULL, consecutive_failures=0, ledger_behind=? WHERE id = 1",
                (_account_to_json(account), balance.balance_cents, to_text(balance.as_of),
                 to_text(confirmed_at), to_text(confirmed_at), int(ledger_behind)),
            )

    def commit_features(self, features: tuple[FeatureInfo, ...], at: datetime) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM features")
            conn.executemany(
                "INSERT OR IGNORE INTO features(id, position, label, price_cents)"
                " VALUES (?,?,?,?)",
                [(f.id, n, f.label, f.price_cents) for n, f in enumerate(features)])
            conn.execute("UPDATE cache_state SET features_read_at = ? WHERE id = 1",
                         (to_text(at),))

    def has_entry(self, entry_id: str) -> bool:
        return bool(self._db.query("SELECT 1 FROM ledger_entries WHERE id = ?", (entry_id,)))

    def commit_sync_failure(self, at: datetime, message: str, kind: str) -> None:
        with self._db.transaction() as conn:
            _contact(conn, at, "sync", kind, message)
            conn.execute(
                "UPDATE cache_state SET last_attempt_at=?, last_error=?, last_error_kind=?,"
                " failing_since=COALESCE(failing_since, ?),"
                " consecutive_failures=consecutive_failures + 1 WHERE id = 1",
                (to_text(at), message, kind, to_text(at)),
            )

    def record_contact(self, at: datetime, source: str, kind: str | None = None,
                       message: str | None = None) -> None:
        with self._db.transaction() as conn:
            _contact(conn, at, source, kind, message)

    def load_contact(self) -> CloudContact:
        row = self._db.query("SELECT * FROM cloud_contact WHERE id = 1")[0]
        return CloudContact(ok_at=from_text(row["ok_at"]),
                            failing_since=from_text(row["failing_since"]), kind=row["kind"],
                            message=row["message"], source=row["source"])

    def recent_entries(self, limit: int) -> list[LedgerEntry]:
        rows = self._db.query(
            "SELECT * FROM ledger_entries ORDER BY timestamp DESC, seq DESC LIMIT ?", (limit,)
        )
        return [_entry(r) for r in rows]

    def entries_for_job(self, job_id: str) -> list[LedgerEntry]:
        rows = self._db.query("SELECT * FROM ledger_entries WHERE job_id = ? ORDER BY seq",
                              (job_id,))
        return [_entry(r) for r in rows]

    def entries_since(self, since: datetime, kinds: Iterable[EntryKind] = ()) -> list[LedgerEntry]:
        """Entries timestamped at or after `since` (all kinds, or only `kinds`), oldest first.
        Used by the refund rules (ai_run charges, refund entries)."""
        wanted = [k.value for k in kinds]
        kind_filter = f" AND kind IN ({','.join('?' * len(wanted))})" if wanted else ""
        rows = self._db.query(
            f"SELECT * FROM ledger_entries WHERE timestamp >= ?{kind_filter}"
            " ORDER BY timestamp, seq", (to_text(since), *wanted))
        return [_entry(r) for r in rows]

    def entry_count(self) -> int:
        return int(self._db.query("SELECT COUNT(*) FROM ledger_entries")[0][0])

    def active_alert_keys(self) -> set[str]:
        return {r["key"] for r in self._db.query("SELECT key FROM active_alerts")}

    def active_alert_dues(self) -> dict[str, datetime]:
        """The deadline each active alert was last announced with, where it has one."""
        rows = self._db.query("SELECT key, said_due FROM active_alerts WHERE said_due NOT NULL")
        return {r["key"]: due for r in rows if (due := from_text(r["said_due"])) is not None}

    def set_active_alert_keys(self, keys: set[str],
                              dues: dict[str, datetime] | None = None) -> None:
        dues = dues or {}
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM active_alerts")
            conn.executemany("INSERT INTO active_alerts(key, said_due) VALUES (?, ?)",
                             [(k, to_text(dues[k]) if k in dues else None) for k in keys])


def _contact(conn: Any, at: datetime, source: str, kind: str | None,
             message: str | None) -> None:
    # The latest word wins, whoever said it: a job that reached the cloud after the sync failed
    # proves the link is back. Answers that merely refused something still prove it works.
    if kind in CONTACT_FAILURES:
        conn.execute("UPDATE cloud_contact SET failing_since = COALESCE(failing_since, ?),"
                     " kind = ?, message = ?, source = ?, updated_at = ? WHERE id = 1",
                     (to_text(at), kind, message, source, to_text(at)))
    else:
        conn.execute("UPDATE cloud_contact SET ok_at = ?, failing_since = NULL, kind = NULL,"
                     " message = NULL, source = ?, updated_at = ? WHERE id = 1",
                     (to_text(at), source, to_text(at)))


def _entry(row: Any) -> LedgerEntry:
    timestamp = from_text(row["timestamp"])
    assert timestamp is not None
    return LedgerEntry(
        id=row["id"], timestamp=timestamp, kind=EntryKind(row["kind"]),
        amount_cents=row["amount_cents"], balance_after_cents=row["balance_after_cents"],
        feature=row["feature"], job_id=row["job_id"], receipt=row["receipt"],
        coupon_code=row["coupon_code"], description=row["description"],
        refund_request_id=row["refund_request_id"],
    )


def _account_to_json(account: Account) -> str:
    data = asdict(account)
    for key in ("renews_at", "expires_at", "grace_ends_at"):
        data[key] = to_text(data[key])
    for key in ("plan", "status", "primary_payment_method"):
        data[key] = data[key].value
    return json.dumps(data)


def _account_from_json(text: str) -> Account:
    data = json.loads(text)
    return Account(
        email=data["email"], plan=Plan(data["plan"]), status=AccountStatus(data["status"]),
        primary_payment_method=PaymentMethod(data["primary_payment_method"]),
        renews_at=from_text(data["renews_at"]), expires_at=from_text(data["expires_at"]),
        grace_ends_at=from_text(data["grace_ends_at"]), dashboard_url=data.get("dashboard_url"),
        unrecognised=tuple(data.get("unrecognised", ())),
    )
