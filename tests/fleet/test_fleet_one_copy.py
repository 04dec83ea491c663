"""One phone copy of an account-wide alert per account: two booths of one account, a real
Mosquitto, one real HTTP receiver (Apprise's JSON webhook) that both booths send to.

Each booth is what the tray app runs: the fleet path on a runtime of its own (the fleet
worker's) and the alert path on another (the monitor worker's), over one store. The Fleet tab
is closed (no state subscription): the status topics are what the choice is made from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import keyring
import pytest
from keyring.backends.null import Keyring as NullKeyring

from app.adapters.store.fleet_outbox_repo import read_presence
from app.core.alert_sender import HANDOVER, TAKEOVER_AFTER
from app.core.alerts import Alert
from app.orchestration.alert_path import AlertPath
from app.orchestration.alert_targets import save_targets
from app.orchestration.fleet_path import FleetPath, runtime_fleet
from app.runtime import Options, Runtime, utc_now
from tests.cli.support import run
from tests.fleet.broker import Broker, wait_for
from tests.support.alert_receiver import Receiver

ACCOUNT = "ops@studio.example"
LOW = Alert("low-balance:2000", "Credits running low", "$12.00 left.", "warning", lasting=True)
DOWN = Alert("offline:2026-12-04T19:00:00Z", "Cloud unreachable", "No contact since 19:00.",
             "warning", lasting=True)


class Booth:
    def __init__(self, home: Path, name: str, url: str | None, broker_port: int | None):
        home.mkdir()
        self.home = home
        options = Options(home=str(home), cloud_url="http://127.0.0.1:9")
        self.runtime = Runtime(options)
        s = self.runtime.settings
        s.booth_name = name
        if broker_port is not None:
            s.mqtt_host, s.mqtt_port, s.mqtt_account = "127.0.0.1", broker_port, ACCOUNT
        self.runtime.save_settings()
        if url:
            save_targets(self.runtime, [url])
        self.runtime.cache.set_active_alert_keys({LOW.key})  # the balance is low right now
        self.alerts = AlertPath(self.runtime)
        self.fleet_runtime: Runtime | None = None
        self.fleet: FleetPath | None = None
        if broker_port is not None:
            self.fleet_runtime = Runtime(options)
            self.fleet = runtime_fleet(self.fleet_runtime)
            assert self.fleet is not None and not self.fleet.watching  # the tab is closed
            self.fleet.start()

    def raise_alert(self, alert: Alert, now: datetime) -> list[str]:
        verdicts = self.alerts.take([alert], now)
        self.alerts.deliver(now)
        return verdicts

    def sees(self, online: set[str], offline: set[str] = frozenset()) -> bool:  # type: ignore[assignment]
        p = read_presence(self.runtime.db)
        return p is not None and p.connected and {
            x.booth for x in p.peers if x.online and x.phone} == online and offline <= {
            x.booth for x in p.peers if not x.online}

    def stop_fleet(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()  # says offline (retained), as a booth that quits or goes away
            self.fleet = None

    def close(self) -> None:
        self.stop_fleet()
        for rt in (self.fleet_runtime, self.runtime):
            if rt is not None:
                rt.close()



@pytest.fixture
def plaintext_secrets() -> Iterator[None]:
    """The alert URL in each home's visible fallback file, so `alerts --json` run as a
    subprocess reads the same outbox and targets (no keyring on the CI machine)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(NullKeyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def booths(tmp_path: Path, broker: Broker, receiver: Receiver, plaintext_secrets
           ) -> Iterator[tuple[Booth, Booth]]:
    made: list[Booth] = []
    try:
        for name in ("Booth A", "Booth B"):
            made.append(Booth(tmp_path / name.replace(" ", "-").lower(), name, receiver.url,
                              broker.port))
        for booth in made:
            wait_for(lambda b=booth: b.sees({"Booth_A", "Booth_B"}), 20,
                     "each booth sees both online")
        yield made[0], made[1]
    finally:
        for booth in made:
            booth.close()


def test_two_booths_of_one_account_send_one_copy_of_a_low_balance_alert(booths, receiver):
    a, b = booths
    now = utc_now()
    assert b.raise_alert(LOW, now) == ["left"]  # B raised it first: A is the one that sends
    assert a.raise_alert(LOW, now + timedelta(seconds=40)) == ["new"]
    assert receiver.titles() == ["Booth A: Credits running low"]
    body = receiver.received[0]["message"]
    assert "One copy for the account's 2 booths, sent by Booth_A." in body
    # A booth's own alert still comes from each booth.
    a.raise_alert(DOWN, now)
    b.raise_alert(DOWN, now)
    assert sorted(receiver.titles()[1:]) == ["Booth A: Cloud unreachable",
                                             "Booth B: Cloud unreachable"]
    # B's row says why it was not sent, in `alerts --json`; once A had its chance, it is
    # settled and B never sends it.
    b.alerts.deliver(now + HANDOVER + timedelta(seconds=1))
    assert b.alerts.pending_count() == 0
    doc = run(b.home, "alerts", "--json").json()
    low = next(x for x in doc["alerts"] if x["kind"] == "low_balance")
    assert (low["state"], low["reason"], low["left_to"]) == ("left", "left to Booth_A",
                                                             "Booth_A")
    assert len(receiver.titles()) == 3


def test_the_chosen_booth_goes_offline_and_the_next_sends_the_alert(booths, receiver):
    a, b = booths
    now = utc_now()
    assert b.raise_alert(LOW, now) == ["left"]
    # A goes away before it sent the alert (it never got to raise it).
    a.stop_fleet()
    wait_for(lambda: b.sees({"Booth_B"}, {"Booth_A"}), 20, "B sees A offline")
    b.alerts.deliver(utc_now())
    assert receiver.titles() == []  # A may be back in a moment
    assert b.alerts.pending_count() == 1  # the worker's timer comes back for it
    later = utc_now() + TAKEOVER_AFTER + timedelta(seconds=1)
    report = b.alerts.deliver(later)
    assert len(report.sent) == 1 and report.waiting == 0
    assert receiver.titles() == ["Late — Booth B: Credits running low"]
    body = receiver.received[0]["message"]
    assert "Sent by Booth_B: Booth_A, which was to send it, went offline." in body
    # An alert raised now goes straight from B: A has been offline for longer than N minutes.
    again = Alert("runs-out:2026-12-04", "Credits run out before the event ends",
                  "At this pace: until about 21:35.", "warning", lasting=True)
    b.runtime.cache.set_active_alert_keys({LOW.key, again.key})
    assert b.alerts.take([again], later) == ["new"]
    b.alerts.deliver(later)
    assert receiver.titles()[-1] == "Booth B: Credits run out before the event ends"


def test_a_booth_without_an_alert_address_is_not_the_one_that_sends(
        tmp_path: Path, broker: Broker, receiver: Receiver, plaintext_secrets):
    a = Booth(tmp_path / "booth-a", "Booth A", None, broker.port)  # no phone alert address
    b = Booth(tmp_path / "booth-b", "Booth B", receiver.url, broker.port)
    try:
        wait_for(lambda: b.sees({"Booth_B"}, set()) and any(
            p.booth == "Booth_A" and p.online and p.phone is False
            for p in read_presence(b.runtime.db).peers), 20, "B sees A online, without")
        assert a.raise_alert(LOW, utc_now()) == []  # nowhere to send it
        assert b.raise_alert(LOW, utc_now()) == ["new"]
        assert receiver.titles() == ["Booth B: Credits running low"]
    finally:
        a.close()
        b.close()


def test_without_a_broker_each_booth_sends_its_own(tmp_path: Path, receiver: Receiver,
                                                   plaintext_secrets):
    a = Booth(tmp_path / "booth-a", "Booth A", receiver.url, None)
    b = Booth(tmp_path / "booth-b", "Booth B", receiver.url, None)
    try:
        now = utc_now()
        assert a.raise_alert(LOW, now) == ["new"]
        assert b.raise_alert(LOW, now) == ["new"]
        assert sorted(receiver.titles()) == ["Booth A: Credits running low",
                                             "Booth B: Credits running low"]
        assert "One copy" not in receiver.received[0]["message"]  # today's words
    finally:
        a.close()
        b.close()
