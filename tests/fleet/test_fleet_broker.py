"""The fleet against a real Mosquitto: publishing through the outbox, the broker going away and
coming back, a booth killed outright, and accounts kept apart."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from app.core.fleet import FleetRow
from tests.fleet.booths import SimBooth
from tests.fleet.broker import Broker, wait_for

ACCOUNT = "ops_at_studio.example"
BOOTHS = 50


@pytest.fixture
def viewer(tmp_path: Path, broker: Broker):
    # The operator's own booth, also subscribed: its session is kept across the outage, so
    # the events the others send while it reconnects wait for it at the broker.
    v = SimBooth(tmp_path, broker.port, ACCOUNT, "viewer-booth")
    v.path.start()
    yield v
    v.close()


def rows(sim: SimBooth) -> dict[str, FleetRow]:
    return {r.booth: r for r in sim.path.view().rows}


def test_one_booth_publishes_and_its_row_is_marked_on_puback(tmp_path: Path, broker: Broker,
                                                             viewer: SimBooth):
    booth = SimBooth(tmp_path, broker.port, ACCOUNT, "booth-1")
    booth.path.start()
    try:
        wait_for(lambda: "booth-1" in rows(viewer) and booth.waiting() == 0, 10,
                 "booth-1's state in the view and its outbox empty")
        booth.change(held=2, queued=3)
        booth.path.event("photo_held", "IMG_0001.jpg held: link 1.2 Mbps")
        wait_for(lambda: rows(viewer)["booth-1"].held == 2, 10, "held=2 in the view")
        wait_for(lambda: [e.kind for e in viewer.path.view().events] == ["photo_held"], 10,
                 "the held event in the view")
        wait_for(lambda: booth.waiting() == 0, 10, "the outbox empty again")
        row = rows(viewer)["booth-1"]
        assert (row.online, row.queued, row.seq) == (True, 3, booth.latest_state_seq())
        view = viewer.path.view()
        assert view.balance_cents == 50_000 and view.forecast is not None
    finally:
        booth.close()
    # A clean stop says offline itself (no last will needed).
    wait_for(lambda: rows(viewer)["booth-1"].online is False, 10, "booth-1 offline")


def test_fifty_booths_converge_after_the_broker_restarts(tmp_path: Path, broker: Broker,
                                                         viewer: SimBooth):
    booths = [SimBooth(tmp_path, broker.port, ACCOUNT, f"booth-{n:02d}", seed=n)
              for n in range(BOOTHS)]
    try:
        for b in booths:
            b.path.start()
        wait_for(lambda: len(rows(viewer)) == BOOTHS + 1
                 and all(b.waiting() == 0 for b in booths), 60, "all 50 booths in the view")
        before = {b.path.topics.booth: b.latest_state_seq() for b in booths}

        broker.stop()
        wait_for(lambda: not any(b.path.link.connected for b in booths), 30,
                 "every booth to see the broker gone")
        # While it is down: every booth's state changes twice (only the newest is kept to
        # send) and every booth has two events worth keeping one by one.
        for n, b in enumerate(booths):
            b.change(held=n % 4, queued=n % 7)
            b.path.event("photo_held", f"photo of booth {n} held")
            b.change(held=n % 4, queued=n % 7 + 1, balance_cents=40_000 - n)
            b.path.event("claim_filed", f"claim for booth {n} filed")
        wait_for(lambda: all(b.outbox.counts() == {"state": 1, "event": 2} for b in booths), 30,
                 "each booth's changes committed: one state, two events")

        broker.start()
        expected = {b.path.topics.booth: (b.state.held, b.state.queued) for b in booths}

        def converged() -> bool:
            got = rows(viewer)
            return all(b.waiting() == 0 for b in booths) and all(
                name in got and (got[name].held, got[name].queued) == want
                and got[name].seq == b.latest_state_seq()
                for b, (name, want) in zip(booths, expected.items(), strict=True))

        wait_for(converged, 90, "the view to converge on every booth's newest state")
        # Nothing lost, nothing doubled: each booth's newer seq is in the view, and every
        # event arrived once (copies redelivered by QoS 1 were recognised by their seq).
        got = rows(viewer)
        assert all(got[name].seq > seq for name, seq in before.items())
        wait_for(lambda: len(viewer.path.view().events) == 2 * BOOTHS, 30, "100 events")
        events = viewer.path.view().events
        keys = [(e.booth, e.seq) for e in events]
        assert len(set(keys)) == len(keys) == 2 * BOOTHS
        assert {e.booth for e in events} == set(expected)
        assert all(r.online for r in got.values())
        view = viewer.path.view()
        assert view.balance_cents is not None and view.balance_cents <= 40_000
    finally:
        for b in booths:
            b.close()


BOOTH_SCRIPT = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from tests.fleet.booths import SimBooth
    booth = SimBooth(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], "killed-booth")
    booth.path.start()
    threading.Event().wait()
""")


def test_a_killed_booth_shows_offline_by_its_last_will(tmp_path: Path, broker: Broker,
                                                       viewer: SimBooth):
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", BOOTH_SCRIPT, str(root), str(tmp_path),
                             str(broker.port), ACCOUNT], cwd=root)
    try:
        wait_for(lambda: getattr(rows(viewer).get("killed-booth"), "online", None) is True, 30,
                 "the subprocess booth online")
        proc.kill()  # SIGKILL: no clean disconnect, no "offline" of its own
        proc.wait(10)
        wait_for(lambda: rows(viewer)["killed-booth"].online is False, 30,
                 "the last will's offline")
        row = rows(viewer)["killed-booth"]
        assert row.balance_cents == 50_000  # what it last said is still shown, with its age
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_booth_never_receives_another_accounts_topics(tmp_path: Path, broker: Broker,
                                                        viewer: SimBooth):
    other = SimBooth(tmp_path, broker.port, "rival_at_other.example", "their-booth")
    mine = SimBooth(tmp_path, broker.port, ACCOUNT, "my-booth")
    try:
        other.path.start()
        mine.path.start()
        other.path.event("photo_held", "theirs")
        wait_for(lambda: "my-booth" in rows(viewer) and other.waiting() == 0, 20,
                 "both accounts published")
        # The other account's booth sees only its own account, and ours only ours: nothing of
        # the other arrived at all (the broker was never asked for it).
        assert set(rows(viewer)) == {"viewer-booth", "my-booth"}
        assert set(rows(other)) == {"their-booth"}
        assert viewer.path.model.foreign == 0 and other.path.model.foreign == 0
    finally:
        other.close()
        mine.close()


def test_a_booth_restarted_during_the_outage_sends_what_it_had_kept(tmp_path: Path,
                                                                   broker: Broker,
                                                                   viewer: SimBooth):
    first = SimBooth(tmp_path, broker.port, ACCOUNT, "restarted")
    first.path.start()
    wait_for(lambda: "restarted" in rows(viewer) and first.waiting() == 0, 20, "first state")
    broker.stop()
    first.change(held=4)
    first.path.event("photo_held", "kept across a restart")
    wait_for(lambda: first.outbox.counts() == {"state": 1, "event": 1}, 10, "committed")
    seq = first.latest_state_seq()
    first.close()  # the app quits (or the PC reboots) before the broker is back
    broker.start()
    again = SimBooth(tmp_path, broker.port, ACCOUNT, "restarted")  # the same store
    # Its state is read from the booth's store again (its photos are still held); the event
    # exists only in the fleet outbox.
    again.state = replace(again.state, held=4)
    again.path.start()
    try:
        wait_for(lambda: rows(viewer)["restarted"].held == 4 and again.waiting() == 0, 30,
                 "the kept state after the restart")
        assert rows(viewer)["restarted"].seq > seq  # re-sent afresh on connect, newer seq
        wait_for(lambda: [e.text for e in viewer.path.view().events] ==
                 ["kept across a restart"], 30, "the kept event, once")
    finally:
        again.close()


def test_a_broker_that_lost_its_database_gets_every_state_back(tmp_path: Path,
                                                              broker: Broker):
    booths = [SimBooth(tmp_path, broker.port, ACCOUNT, f"b{n}", seed=n) for n in range(10)]
    try:
        for b in booths:
            b.path.start()
        wait_for(lambda: all(b.waiting() == 0 for b in booths) and all(
            b.path.link.connects == 1 for b in booths), 30, "all published")
        broker.kill()  # SIGKILL: the retained states and sessions since the last save are gone
        for db in tmp_path.glob("broker/*.db"):
            db.unlink()
        broker.start()
        # A new viewer after the restart: it can only see what the booths sent again.
        late = SimBooth(tmp_path, broker.port, ACCOUNT, "late-viewer")
        late.path.start()
        try:
            wait_for(lambda: {f"b{n}" for n in range(10)} <= set(rows(late))
                     and all(rows(late)[f"b{n}"].online for n in range(10)), 60,
                     "every booth's state and online, re-sent on reconnect")
        finally:
            late.close()
    finally:
        for b in booths:
            b.close()
