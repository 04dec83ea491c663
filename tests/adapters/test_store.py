import os
import sqlite3
from datetime import datetime, timezone

import pytest

from app.adapters.store import Database
from app.adapters.store.cache_repo import CacheRepo
from app.core.errors import StorageError
from app.core.model import (
    Account,
    AccountStatus,
    Balance,
    EntryKind,
    LedgerEntry,
    PaymentMethod,
    Plan,
)

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
ACCOUNT = Account("op@booth.test", Plan.PRO, AccountStatus.ACTIVE, PaymentMethod.CARD, T0, None,
                  None, "https://dash")


def entry(n: int, amount: int = -25) -> LedgerEntry:
    return LedgerEntry(f"e{n}", T0.replace(minute=n), EntryKind.AI_RUN, amount, 1000 + n,
                       feature="draw_me", job_id=f"j{n}")


def test_cache_survives_reopening_the_file(tmp_path):
    path = tmp_path / "m.sqlite3"
    repo = CacheRepo(Database(path))
    repo.commit_ledger_page([entry(1), entry(2)], "c2")
    repo.commit_sync(ACCOUNT, Balance(4242, T0), T0)
    reopened = CacheRepo(Database(path)).load_cache()
    assert reopened.balance_cents == 4242
    assert reopened.account == ACCOUNT
    assert reopened.health.confirmed_at == T0
    assert reopened.health.ledger_cursor == "c2"


def test_ledger_pages_are_idempotent(tmp_path):
    repo = CacheRepo(Database(tmp_path / "m.sqlite3"))
    repo.commit_ledger_page([entry(1), entry(2)], "c2")
    repo.commit_ledger_page([entry(2), entry(3)], "c3")  # a page re-delivered after a crash
    assert repo.entry_count() == 3
    assert [e.id for e in repo.recent_entries(10)] == ["e3", "e2", "e1"]
    assert repo.entries_for_job("j2")[0].amount_cents == -25


def test_failures_accumulate_and_success_clears_them(tmp_path):
    repo = CacheRepo(Database(tmp_path / "m.sqlite3"))
    repo.commit_sync(ACCOUNT, Balance(100, T0), T0)
    later = T0.replace(hour=13)
    repo.commit_sync_failure(T0.replace(minute=5), "Cannot connect", "offline")
    repo.commit_sync_failure(later, "Cannot connect", "offline")
    health = repo.load_cache().health
    assert health.consecutive_failures == 2
    assert health.failing_since == T0.replace(minute=5)  # the start of the episode is kept
    assert repo.load_cache().balance_cents == 100
    repo.commit_sync(ACCOUNT, Balance(90, later), later)
    health = repo.load_cache().health
    assert (health.consecutive_failures, health.failing_since, health.last_error) == (0, None,
                                                                                      None)


def test_store_uses_wal_and_full_sync(tmp_path):
    db = Database(tmp_path / "m.sqlite3")
    assert db.query("PRAGMA journal_mode")[0][0] == "wal"
    assert db.query("PRAGMA synchronous")[0][0] == 2  # FULL
    assert db.integrity_check() == "ok"


@pytest.mark.skipif(os.name != "posix", reason="file modes are a POSIX notion")
def test_store_file_is_private(tmp_path):
    path = tmp_path / "m.sqlite3"
    Database(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "m.sqlite3"
    CacheRepo(Database(path))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_versions SET version = 99 WHERE component = 'cache'")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer version"):
        CacheRepo(Database(path))


def test_migration_of_existing_data_backs_up_first(tmp_path):
    path = tmp_path / "m.sqlite3"
    db = Database(path)
    db.migrate("widgets", ["CREATE TABLE w (x INTEGER)"])
    with db.transaction() as conn:
        conn.execute("INSERT INTO w VALUES (7)")
    db.migrate("widgets", ["CREATE TABLE w (x INTEGER)", "ALTER TABLE w ADD COLUMN y TEXT"])
    backups = list(tmp_path.glob("m.before-widgets-v2.bak"))
    assert backups
    assert sqlite3.connect(backups[0]).execute("SELECT x FROM w").fetchone() == (7,)
    assert db.query("SELECT x, y FROM w")[0][0] == 7


def test_damaged_file_gives_an_operator_message(tmp_path):
    path = tmp_path / "m.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="damaged"):
        CacheRepo(Database(path))


def test_a_migration_another_connection_applied_meanwhile_is_skipped(tmp_path):
    """Two runtimes of the tray app (the fleet worker's, the job worker's) open a new store at
    once: both read version 0, the first applies v1, the second must not apply it again."""
    from contextlib import contextmanager

    migrations = ["CREATE TABLE t (a INTEGER)", "ALTER TABLE t ADD COLUMN b INTEGER"]
    first, second = Database(tmp_path / "s.sqlite3"), Database(tmp_path / "s.sqlite3")
    plain = second.transaction
    reads = {"n": 0}

    @contextmanager
    def interleaved():
        with plain() as conn:
            yield conn
        reads["n"] += 1
        if reads["n"] == 1:  # after `second` read the version, `first` migrates everything
            first.migrate("x", migrations)

    second.transaction = interleaved  # type: ignore[method-assign]
    second.migrate("x", migrations)
    assert [r[1] for r in second.query("PRAGMA table_info(t)")] == ["a", "b"]
    assert second.query("SELECT version FROM schema_versions WHERE component='x'")[0][0] == 2
