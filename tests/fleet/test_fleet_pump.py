"""The pump without a broker: states are committed while the broker is away, a burst of
changes is coalesced, and the heartbeat re-sends an unchanged state so "last contact" moves."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from app.adapters.mqtt.link import MqttLink
from app.adapters.store import Database
from app.adapters.store.fleet_outbox_repo import FleetOutbox
from app.core.backoff import Backoff
from app.core.fleet import BoothState, decode_state
from app.orchestration.fleet_path import FleetPath
from tests.fleet.booths import FAST, config
from tests.fleet.broker import free_port, wait_for


def pump(tmp_path: Path, source, **kw) -> tuple[FleetPath, FleetOutbox]:
    box = FleetOutbox(Database(tmp_path / "p.sqlite3"))
    # Nothing listens on this port: everything stays in the outbox.
    path = FleetPath(box, config(free_port(), "acct", "p"), source, backoff=FAST, **kw)
    return path, box


def newest(box: FleetOutbox) -> BoothState:
    rows = box.unpublished()
    got = decode_state(rows[0].payload, "p")
    assert got is not None
    return got


def test_a_burst_of_changes_is_one_or_two_states_and_the_newest_wins(tmp_path: Path):
    state = {"s": BoothState(booth="p", name="P")}
    path, box = pump(tmp_path, lambda: state["s"], min_interval=0.5)
    path.start()
    try:
        wait_for(lambda: box.last_seq() == 1, 10, "the first state")
        for n in range(1, 101):
            state["s"] = replace(state["s"], queued=n)
            path.state_changed()
        wait_for(lambda: box.unpublished() and newest(box).queued == 100, 10, "queued=100")
        assert box.last_seq() <= 3  # not 101: the gap coalesced the burst
        assert box.counts() == {"state": 1}
    finally:
        path.stop()


def test_the_heartbeat_sends_an_unchanged_state_again(tmp_path: Path):
    path, box = pump(tmp_path, lambda: BoothState(booth="p", name="P"),
                     heartbeat=timedelta(seconds=0.3), min_interval=0.05)
    path.start()
    try:
        wait_for(lambda: box.last_seq() >= 3, 10, "two heartbeats")
        path.state_changed()  # an unchanged state between beats is not a new seq by itself
        assert newest(box).content() == BoothState(booth="p", name="P").content()
    finally:
        path.stop()


class RecordingBackoff(Backoff):
    """The app's backoff, recording each wait it draws."""

    def __init__(self) -> None:
        super().__init__(base=0.2, cap=0.8, floor=0.05)
        object.__setattr__(self, "drawn", [])

    def delay(self, failures, rng, retry_after=None):  # type: ignore[override]
        value = super().delay(failures, rng, retry_after)
        self.drawn.append((failures, value))  # type: ignore[attr-defined]
        return value


def test_the_link_retries_with_the_apps_jittered_backoff(tmp_path: Path):
    backoff = RecordingBackoff()
    link = MqttLink(config(free_port(), "acct", "p").broker, backoff=backoff,
                    rng=random.Random(3))
    link.start()
    try:
        wait_for(lambda: len(backoff.drawn) >= 4, 20, "four refused attempts")  # type: ignore[attr-defined]
        drawn = backoff.drawn[:4]  # type: ignore[attr-defined]
        assert [f for f, _ in drawn] == [1, 2, 3, 4]  # failures count up
        assert all(0.05 <= d <= min(0.8, 0.2 * 2 ** (f - 1)) for f, d in drawn)
        assert len({round(d, 6) for _, d in drawn}) == 4  # drawn, not a fixed ladder
        assert "refused" in str(link.state.last_error)
        assert link.state.next_attempt_in is not None and not link.connected
    finally:
        link.stop()
