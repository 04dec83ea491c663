"""Bandwidth preflight history (implements app.core.bandwidth.ProbeStore).

Kept for the chart (rate over the last hours), for reusing a fresh result before the next job,
and for counting the megabytes probes cost: on a metered hotspot that is the operator's money.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from app.adapters.store.db import Database, from_text, to_text
from app.core.bandwidth import PreflightResult, Verdict
from app.core.bandwidth_passive import PassiveReading

KEEP_DAYS = 30

MIGRATIONS = [
    """
    CREATE TABLE probe_results (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        measured_at TEXT NOT NULL,
        verdict TEXT NOT NULL,
        upload_mbps REAL,
        download_mbps REAL,
        threshold_mbps REAL NOT NULL,
        bytes_up INTEGER NOT NULL,
        bytes_down INTEGER NOT NULL,
        seconds REAL NOT NULL,
        method TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        details_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX probe_results_time ON probe_results(measured_at)
    """,
    # v2 (issue 14): readings taken from the photos' own uploads and the results' downloads.
    """
    CREATE TABLE passive_readings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        measured_at TEXT NOT NULL,
        direction TEXT NOT NULL,
        mbps REAL NOT NULL,
        seconds REAL NOT NULL,
        bytes INTEGER NOT NULL,
        method TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX passive_readings_time ON passive_readings(direction, measured_at)
    """,
]


@dataclass(frozen=True)
class DaySpend:
    day: date  # the booth's local calendar day
    checks: int
    bytes_up: int
    bytes_down: int

    @property
    def total_bytes(self) -> int:
        return self.bytes_up + self.bytes_down


class ProbesRepo:
    def __init__(self, db: Database):
        self._db = db
        db.migrate("probes", MIGRATIONS)

    def record_probe(self, result: PreflightResult) -> None:
        cutoff = result.measured_at - timedelta(days=KEEP_DAYS)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO probe_results(measured_at, verdict, upload_mbps, download_mbps,"
                " threshold_mbps, bytes_up, bytes_down, seconds, method, reason, details_json)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (to_text(result.measured_at), result.verdict.value, result.upload_mbps,
                 result.download_mbps, result.threshold_mbps, result.bytes_up, result.bytes_down,
                 result.seconds, result.method, result.reason, json.dumps(result.details)),
            )
            # Old rows only feed a chart of the last hours and a per-day count: drop them.
            conn.execute("DELETE FROM probe_results WHERE measured_at < ?", (to_text(cutoff),))

    def record_passive(self, reading: PassiveReading) -> None:
        cutoff = reading.measured_at - timedelta(days=KEEP_DAYS)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO passive_readings(measured_at, direction, mbps, seconds, bytes,"
                " method, source) VALUES (?,?,?,?,?,?,?)",
                (to_text(reading.measured_at), reading.direction, reading.mbps, reading.seconds,
                 reading.bytes, reading.method, reading.source))
            conn.execute("DELETE FROM passive_readings WHERE measured_at < ?", (to_text(cutoff),))

    def latest_passive(self, direction: str) -> PassiveReading | None:
        rows = self._db.query(
            "SELECT * FROM passive_readings WHERE direction = ?"
            " ORDER BY measured_at DESC, id DESC LIMIT 1", (direction,))
        return _passive(rows[0]) if rows else None

    def passive_history(self, since: datetime) -> list[PassiveReading]:
        """Passive readings at or after `since`, oldest first (the chart's second kind)."""
        rows = self._db.query(
            "SELECT * FROM passive_readings WHERE measured_at >= ? ORDER BY measured_at, id",
            (to_text(since),))
        return [_passive(r) for r in rows]

    def latest_probe(self) -> PreflightResult | None:
        rows = self._db.query(
            "SELECT * FROM probe_results ORDER BY measured_at DESC, id DESC LIMIT 1")
        return _result(rows[0]) if rows else None

    def history(self, since: datetime) -> list[PreflightResult]:
        """Results measured at or after `since`, oldest first."""
        rows = self._db.query(
            "SELECT * FROM probe_results WHERE measured_at >= ? ORDER BY measured_at, id",
            (to_text(since),))
        return [_result(r) for r in rows]

    def last_hours(self, now: datetime, hours: float) -> list[PreflightResult]:
        return self.history(now - timedelta(hours=hours))

    def spend_per_day(self, since: datetime, tz: Any = None) -> list[DaySpend]:
        """Bytes probes spent per local day (tz: default the machine's), oldest day first."""
        rows = self._db.query(
            "SELECT measured_at, bytes_up, bytes_down FROM probe_results WHERE measured_at >= ?",
            (to_text(since),))
        days: dict[date, list[int]] = {}
        for row in rows:
            moment = from_text(row["measured_at"])
            assert moment is not None
            day = moment.astimezone(tz).date()
            totals = days.setdefault(day, [0, 0, 0])
            totals[0] += 1
            totals[1] += row["bytes_up"]
            totals[2] += row["bytes_down"]
        return [DaySpend(d, *days[d]) for d in sorted(days)]

    def spent_today(self, now: datetime, tz: Any = None) -> DaySpend:
        local = now.astimezone(tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        days = self.spend_per_day(midnight.astimezone(timezone.utc), tz)
        if days and days[-1].day == local.date():
            return days[-1]
        return DaySpend(local.date(), 0, 0, 0)


def _passive(row: Any) -> PassiveReading:
    measured_at = from_text(row["measured_at"])
    assert measured_at is not None
    return PassiveReading(row["direction"], row["mbps"], measured_at, row["seconds"],
                          row["bytes"], row["method"], row["source"])


def _result(row: Any) -> PreflightResult:
    measured_at = from_text(row["measured_at"])
    assert measured_at is not None
    try:
        details = json.loads(row["details_json"] or "{}")
    except ValueError:
        details = {}
    return PreflightResult(
        upload_mbps=row["upload_mbps"], download_mbps=row["download_mbps"],
        verdict=Verdict(row["verdict"]), threshold_mbps=row["threshold_mbps"],
        bytes_up=row["bytes_up"], bytes_down=row["bytes_down"], seconds=row["seconds"],
        method=row["method"], measured_at=measured_at, reason=row["reason"],
        details=details if isinstance(details, dict) else {},
    )
