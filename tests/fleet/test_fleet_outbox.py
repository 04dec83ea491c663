"""The fleet outbox: committed before publishing, one state row (the newest), events one by
one, published only on the broker's acknowledgement of that very seq."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from app.adapters.store import Database
from app.adapters.store.fleet_outbox_repo import FleetOutbox
from app.core.fleet import BoothEvent, BoothState, decode_event, decode_state

NOW = datetime(2026, 12, 4, 20, 0, tzinfo=timezone.utc)
S = BoothState(booth="a", name="A", balance_cents=1000, balance_as_of=NOW, held=0)


def test_states_coalesce_into_one_row_with_the_newest_seq(tmp_path: Path):
    box = FleetOutbox(Database(tmp_path / "s.sqlite3"))
    seqs = [box.put_state(replace(S, held=n), NOW) for n in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    rows = box.unpublished()
    assert [(r.kind, r.seq) for r in rows] == [("state", 5)]
    got = decode_state(rows[0].payload, "a")
    assert got is not None and (got.held, got.seq, got.origin) == (4, 5, box.origin)


def test_an_unchanged_state_is_not_sent_again_but_the_heartbeat_is(tmp_path: Path):
    box = FleetOutbox(Database(tmp_path / "s.sqlite3"))
    assert box.put_state(S, NOW) == 1
    row = box.unpublished()[0]
    assert box.published(row.id, row.seq, NOW)
    assert box.put_state(S, NOW + timedelta(minutes=1)) is None
    assert box.unpublished() == []
    assert box.put_state(S, NOW + timedelta(minutes=5), force=True) == 2


def test_an_ack_for_an_overwritten_state_does_not_mark_the_newer_one(tmp_path: Path):
    box = FleetOutbox(Database(tmp_path / "s.sqlite3"))
    box.put_state(S, NOW)
    flying = box.unpublished()[0]
    box.put_state(replace(S, held=3), NOW)  # changed while seq 1 was in flight
    assert not box.published(flying.id, flying.seq, NOW)
    assert [r.seq for r in box.unpublished()] == [2]


def test_events_are_kept_one_by_one_in_order(tmp_path: Path):
    box = FleetOutbox(Database(tmp_path / "s.sqlite3"))
    box.put_state(S, NOW)
    for n in range(3):
        box.put_event(BoothEvent("a", "photo_held", f"photo {n} held"), NOW)
    rows = box.unpublished()
    assert [(r.kind, r.seq) for r in rows] == [("state", 1), ("event", 2), ("event", 3),
                                                ("event", 4)]
    first = decode_event(rows[1].payload, "a")
    assert first is not None and first.text == "photo 0 held" and first.at == NOW
    assert box.counts() == {"state": 1, "event": 3}


def test_seq_and_origin_survive_a_restart_and_what_was_unsent_waits(tmp_path: Path):
    path = tmp_path / "s.sqlite3"
    db = Database(path)
    box = FleetOutbox(db)
    box.put_state(S, NOW)
    box.put_event(BoothEvent("a", "claim_filed", "claim filed"), NOW)
    origin = box.origin
    db.close()  # the process dies before the broker saw anything
    again = FleetOutbox(Database(path))
    assert again.origin == origin
    assert [r.seq for r in again.unpublished()] == [1, 2]
    assert again.put_state(replace(S, held=1), NOW) == 3


def test_published_events_are_pruned_after_two_days(tmp_path: Path):
    box = FleetOutbox(Database(tmp_path / "s.sqlite3"))
    box.put_event(BoothEvent("a", "photo_held", "x"), NOW)
    row = box.unpublished()[0]
    box.published(row.id, row.seq, NOW)
    assert box.prune(NOW + timedelta(days=1)) == 0
    assert box.prune(NOW + timedelta(days=3)) == 1


def test_a_newer_balance_time_or_pace_alone_is_not_news(tmp_path: Path):
    box = FleetOutbox(Database(tmp_path / "s.sqlite3"))
    box.put_state(S, NOW)
    later = NOW + timedelta(minutes=1)
    assert box.put_state(replace(S, balance_as_of=later, cents_per_hour=99.0), later) is None
    assert box.put_state(replace(S, balance_cents=990, balance_as_of=later), later) == 2
