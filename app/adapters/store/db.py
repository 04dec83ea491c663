"""One SQLite file shared by the tray app and command-line runs on the same booth PC.

WAL lets readers and one writer work at once across processes; synchronous=FULL because this file
holds money and guests' jobs (a power cut must not roll back a commit we already acted on).
Each component owns its tables and its own numbered migrations, so features evolve separately.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from app.adapters.store.timeline import Timeline, current_boot_id
from app.adapters.system.durable import make_private, open_private
from app.core.errors import StorageError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


class Database:
    def __init__(self, path: Path, *, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 boot_id: Callable[[], str | None] | None = None):
        """`monotonic`, `wall` and `boot_id` feed the store's timeline (tests step them)."""
        self.path = path
        _refuse_an_emptied_store(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                check_same_thread=False,
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions"
                " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, path) from None
        _restrict_to_owner(path)
        # One connection per Database; the lock makes it safe to share across our own threads,
        # other processes are kept apart by SQLite's file locks.
        self._lock = threading.RLock()
        # Every wait, lease and schedule kept in this file is measured on its timeline.
        self.timeline = Timeline(self, monotonic=monotonic, wall=wall,
                                 boot_id=boot_id or current_boot_id)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def migrate(self, component: str, migrations: Sequence[str]) -> None:
        """Apply the component's migrations it has not seen yet, each in its own transaction."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT version FROM schema_versions WHERE component=?", (component,)
            ).fetchone()
        have = row["version"] if row else 0
        if have > len(migrations):
            raise StorageError(
                f"The data file {self.path.name} was written by a newer version of the app.",
                hint="Update the app, or start with --home pointing at a new folder.",
            )
        if have and have < len(migrations):
            self.backup(f"before-{component}-v{len(migrations)}")
        for version in range(have + 1, len(migrations) + 1):
            with self.transaction() as conn:
                # Another connection (a second thread's runtime, a command run at the same
                # time) may have applied it since the read above: the write lock is ours now.
                now = conn.execute("SELECT version FROM schema_versions WHERE component=?",
                                   (component,)).fetchone()
                if now is not None and now["version"] >= version:
                    continue
                for statement in _statements(migrations[version - 1]):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_versions(component, version) VALUES(?, ?)"
                    " ON CONFLICT(component) DO UPDATE SET version=excluded.version",
                    (component, version),
                )

    def backup(self, label: str) -> Path:
        target = self.path.with_name(f"{self.path.stem}.{label}.bak")
        # The copy holds the same history as the store: created 0600 before SQLite writes a
        # byte, like the store (on Windows the per-user profile's ACL is what protects both).
        open_private(target, "ab").close()
        make_private(target)
        with self._lock:
            dest = sqlite3.connect(target)
            try:
                self._conn.backup(dest)
            finally:
                dest.close()
        log.info("backed up %s to %s", self.path.name, target.name)
        return target

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: take the write lock up front, so two processes never both read
        'free' and then both write (the job queue's claim relies on this)."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise storage_error(exc, self.path) from None

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise storage_error(exc, self.path) from None

    def integrity_check(self) -> str:
        return str(self.query("PRAGMA integrity_check")[0][0])


# A store this old with no byte in it was emptied outside the app (a sync tool, an antivirus,
# a failing disk); younger, it may be another process of ours between create and first write.
EMPTIED_AFTER_SECONDS = 10.0


def _refuse_an_emptied_store(path: Path) -> None:
    """SQLite would take a zero-byte file as a new, empty store: the job history, refund
    claims and charge records would be gone without a word. Stop and say so instead."""
    try:
        info = path.stat()
    except OSError:
        return
    if info.st_size == 0 and time.time() - info.st_mtime > EMPTIED_AFTER_SECONDS:
        raise StorageError(
            f"The data file {path} is empty (0 bytes): its job history and refund claims were "
            "lost outside this app.",
            hint=_restore_hint(path) + " To start over instead, delete the empty file; the "
            "balance and usage history come back from the cloud.")


def _restore_hint(path: Path) -> str:
    copies = sorted(path.parent.glob(f"{path.stem}*.bak"), key=lambda p: p.stat().st_mtime)
    if copies:
        return f"Restore the newest copy, {copies[-1].name}, beside it (rename it to {path.name})."
    return "No .bak copy exists beside it; keep the file for support."


def _free_space(path: Path) -> str:
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return "unknown"
    return f"{free / 1_000_000:.1f} MB"


def storage_error(exc: sqlite3.Error, path: Path) -> StorageError:
    text = str(exc).lower()
    # SQLite reports a full disk under WAL as a plain "disk I/O error" as often as "full".
    if "full" in text or ("disk i/o" in text and _is_nearly_full(path)):
        return StorageError(f"The disk holding {path.parent} is full ({_free_space(path)} "
                            "free).",
                            hint="Free some space; nothing was lost, the change was not saved.")
    if "disk i/o" in text:
        return StorageError(f"The disk holding {path.name} failed to read or write "
                            f"({_free_space(path)} free).",
                            hint="Check the disk; nothing was saved by this change.")
    if "locked" in text or "busy" in text:
        return StorageError(f"The data file {path.name} is busy in another program.",
                            hint="Close other copies of the app and try again.")
    if "readonly" in text or "unable to open" in text or "permission" in text:
        return StorageError(f"Cannot write the data file {path}.",
                            hint="Check that the folder exists and is writable.")
    if "malformed" in text or "not a database" in text:
        return StorageError(f"The data file {path.name} is damaged.",
                            hint=_restore_hint(path) + " Or start with a new --home.")
    return StorageError(f"The data file {path.name} could not be used ({text}).")


def _is_nearly_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent).free < 1_000_000
    except OSError:
        return False


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _restrict_to_owner(path: Path) -> None:
    # POSIX: keep other local users out of the ledger and job history. On Windows the file
    # inherits the per-user profile folder's ACL, which already does that.
    if os.name == "posix":
        for suffix in ("", "-wal", "-shm"):
            candidate = path.with_name(path.name + suffix)
            if candidate.exists():
                os.chmod(candidate, 0o600)


def to_text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat()


def from_text(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
