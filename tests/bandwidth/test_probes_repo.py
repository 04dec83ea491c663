"""Preflight history in the shared SQLite file: latest, last hours, bytes spent per day."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.adapters.store import Database
from app.adapters.store.probes_repo import KEEP_DAYS, MIGRATIONS, ProbesRepo
from app.core.bandwidth import PreflightResult, Verdict

NOW = datetime(2026, 5, 1, 21, 30, tzinfo=timezone.utc)


def result(at: datetime, up: float | None = 7.5, *, bytes_up: int = 1_000_000,
           bytes_down: int = 500_000) -> PreflightResult:
    verdict = Verdict.OFFLINE if up is None else Verdict.OK
    return PreflightResult(up, 9.0 if up else None, verdict, 5.0, bytes_up, bytes_down, 2.5,
                           "tcp_info_acked", at, reason="" if up else "Cannot connect.",
                           details={"up": {"decided_by": "above"}})


def test_results_round_trip_and_the_latest_wins(tmp_path):
    repo = ProbesRepo(Database(tmp_path / "store.sqlite3"))
    assert repo.latest_probe() is None
    older, newer = result(NOW - timedelta(minutes=5)), result(NOW, up=None)
    repo.record_probe(older)
    repo.record_probe(newer)
    assert repo.latest_probe() == newer
    assert repo.history(NOW - timedelta(hours=1)) == [older, newer]


def test_history_survives_reopening_and_migrations_run_once(tmp_path):
    path = tmp_path / "store.sqlite3"
    ProbesRepo(Database(path)).record_probe(result(NOW))
    db = Database(path)
    repo = ProbesRepo(db)
    assert repo.latest_probe() == result(NOW)
    versions = db.query("SELECT version FROM schema_versions WHERE component='probes'")
    assert versions[0][0] == len(MIGRATIONS)


def test_last_hours_leaves_older_results_out(tmp_path):
    repo = ProbesRepo(Database(tmp_path / "store.sqlite3"))
    for minutes in (300, 170, 60, 1):
        repo.record_probe(result(NOW - timedelta(minutes=minutes)))
    assert len(repo.last_hours(NOW, 3)) == 3


def test_bytes_spent_are_counted_per_local_day(tmp_path):
    repo = ProbesRepo(Database(tmp_path / "store.sqlite3"))
    utc = timezone.utc
    repo.record_probe(result(NOW - timedelta(days=1), bytes_up=2_000_000, bytes_down=0))
    repo.record_probe(result(NOW - timedelta(hours=1)))
    repo.record_probe(result(NOW, up=None, bytes_up=0, bytes_down=0))
    days = repo.spend_per_day(NOW - timedelta(days=7), tz=utc)
    assert [(d.day.isoformat(), d.checks, d.total_bytes) for d in days] == [
        ("2026-04-30", 1, 2_000_000), ("2026-05-01", 2, 1_500_000)]
    today = repo.spent_today(NOW, tz=utc)
    assert (today.checks, today.bytes_up, today.bytes_down) == (2, 1_000_000, 500_000)
    # Three hours east of UTC, 21:30 UTC is 00:30 the next day: only the last (offline,
    # free) check falls on that day; the one at 20:30 UTC was still "yesterday" there.
    east_today = repo.spent_today(NOW, tz=timezone(timedelta(hours=3)))
    assert (east_today.day.isoformat(), east_today.checks, east_today.total_bytes) == (
        "2026-05-02", 1, 0)


def test_old_history_is_dropped(tmp_path):
    repo = ProbesRepo(Database(tmp_path / "store.sqlite3"))
    repo.record_probe(result(NOW - timedelta(days=KEEP_DAYS + 1)))
    repo.record_probe(result(NOW))
    assert len(repo.history(NOW - timedelta(days=365))) == 1


def test_passive_readings_are_kept_beside_the_probes(tmp_path):
    from app.core.bandwidth_passive import PassiveReading

    repo = ProbesRepo(Database(tmp_path / "s.sqlite3"))
    t = datetime(2026, 5, 1, 18, 0, tzinfo=timezone.utc)
    for minutes, direction, rate in ((0, "up", 4.0), (1, "down", 9.0), (2, "up", 6.0)):
        repo.record_passive(PassiveReading(direction, rate, t + timedelta(minutes=minutes), 1.2,
                                           2_000_000, "tcp_info_acked", "job upload"))
    assert repo.latest_passive("up").mbps == 6.0  # type: ignore[union-attr]
    assert repo.latest_passive("down").mbps == 9.0  # type: ignore[union-attr]
    assert [r.mbps for r in repo.passive_history(t + timedelta(seconds=30))] == [9.0, 6.0]
    assert repo.latest_probe() is None  # a reading is not a probe: it cost no byte
