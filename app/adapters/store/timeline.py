"""The store's own clock: every wait, lease and schedule the store keeps is measured on it.

The wall clock is for what people read (history rows, "as of 14:02"); it can step at any moment
(NTP correcting a booth PC that was set by hand, a dead CMOS battery, an operator fixing the time
zone), and a schedule kept on it freezes for as long as the clock stepped back. The monotonic
clock never steps, and on every platform the app runs on it is system-wide: every process of one
boot reads the same value (CLOCK_MONOTONIC on Linux, mach_absolute_time on macOS, the tick count
on Windows). It restarts at a reboot, though, and a lease or a "next attempt" written before the
reboot must still mean something after it.

So the timeline is `monotonic() + offset`, with the offset kept in the store:

* Within one boot all processes use the same offset, so a lease written by the tray app is read
  correctly by a command-line run, and no wall-clock step moves anything.
* Every write transaction of the queue and the outbox records the highest timeline value seen
  (`high_water`). The first process of a new boot anchors a new offset so that the timeline
  resumes at that mark: it never runs backwards, and time the PC was switched off simply does not
  count (a backoff or a result wait resumes where it was; the first look after a restart is
  immediate anyway, because the app checks everything when it starts).
* A store's first anchor starts the timeline at the wall clock's epoch seconds, so values look
  like timestamps, and deadlines written before the timeline existed keep their meaning.

A new boot is told by the OS's boot id (Linux: /proc/sys/kernel/random/boot_id; Windows: the
BootId the kernel counts up at every start). Where there is none, a boot is "the same" while the
wall time of the boot (wall - monotonic) stays within BOOT_SLACK and the monotonic clock has not
gone back; a wall step larger than that only starts a new epoch, which continues from the
high-water mark like a reboot would.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from typing import Protocol

log = logging.getLogger(__name__)

MIGRATIONS = [
    """
    CREATE TABLE store_clock (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        boot_id TEXT,
        boot_wall REAL NOT NULL,
        mono_anchor REAL NOT NULL,
        offset REAL NOT NULL,
        high_water REAL NOT NULL,
        epochs INTEGER NOT NULL DEFAULT 1
    )
    """,
]
BOOT_SLACK = 120.0  # seconds the wall time of the boot may wander before it counts as another
_LINUX_BOOT_ID = "/proc/sys/kernel/random/boot_id"
_WINDOWS_BOOT_KEY = r"SYSTEM\CurrentControlSet\Control\Session Manager\Memory Management" \
    r"\PrefetchParameters"


def current_boot_id() -> str | None:
    """An identifier of this boot of the machine, or None where the OS offers none."""
    if sys.platform.startswith("linux"):
        try:
            with open(_LINUX_BOOT_ID, encoding="ascii") as handle:
                return handle.read(64).strip() or None
        except OSError:
            return None
    if os.name == "nt":
        try:
            import winreg

            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, _WINDOWS_BOOT_KEY) as key:
                value, _ = winreg.QueryValueEx(key, "BootId")
            return f"win-{value}"
        except (OSError, ImportError):
            return None
    return None


class _Store(Protocol):  # app.adapters.store.db.Database, which builds the timeline
    def migrate(self, component: str, migrations: Sequence[str]) -> None: ...

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...


class Timeline:
    """Seconds on the store's timeline (see the module docstring). Thread-safe: after the anchor
    it is arithmetic on the monotonic clock."""

    def __init__(self, db: _Store, *, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 boot_id: Callable[[], str | None] = current_boot_id):
        self._monotonic = monotonic
        self._wall = wall
        db.migrate("clock", MIGRATIONS)
        with db.transaction() as conn:
            self._offset = self._anchor(conn, boot_id())

    def now(self) -> float:
        return self._monotonic() + self._offset

    def after(self, seconds: float) -> float:
        return self.now() + max(0.0, seconds)

    def note(self, conn: sqlite3.Connection) -> None:
        """Record how far the timeline got; call inside a write transaction."""
        conn.execute("UPDATE store_clock SET high_water = MAX(high_water, ?) WHERE id = 1",
                     (self.now(),))

    def wall_of(self, value: float | None) -> datetime | None:
        """A timeline value as the wall-clock moment it stands for now (for display only)."""
        if value is None:
            return None
        return datetime.fromtimestamp(self._wall(), timezone.utc) + timedelta(
            seconds=value - self.now())

    def _anchor(self, conn: sqlite3.Connection, boot: str | None) -> float:
        mono, wall = self._monotonic(), self._wall()
        row = conn.execute("SELECT * FROM store_clock WHERE id = 1").fetchone()
        if row is None:
            offset = wall - mono
            conn.execute("INSERT INTO store_clock(id, boot_id, boot_wall, mono_anchor, offset,"
                         " high_water) VALUES (1, ?, ?, ?, ?, ?)",
                         (boot, wall - mono, mono, offset, wall))
            return offset
        if boot is not None or row["boot_id"] is not None:
            same_boot = boot == row["boot_id"]
        else:
            same_boot = (abs((wall - mono) - row["boot_wall"]) < BOOT_SLACK
                         and mono >= row["mono_anchor"])
        if same_boot and mono + row["offset"] >= row["high_water"] - 1.0:
            return float(row["offset"])
        # A new boot (or a wall step this platform cannot tell from one): carry on from the
        # furthest point any process recorded, so nothing written before lies in the future.
        offset = float(row["high_water"]) - mono
        conn.execute("UPDATE store_clock SET boot_id = ?, boot_wall = ?, mono_anchor = ?,"
                     " offset = ?, epochs = epochs + 1 WHERE id = 1",
                     (boot, wall - mono, mono, offset))
        log.info("store clock: new epoch (a restart of the PC); continuing at %.0f",
                 row["high_water"])
        return offset
