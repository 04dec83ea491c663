"""`fleet` on the command line and the broker settings as an operator sets them: a broker with
a password file and the per-account ACL from docs/fleet.md, the password in the keyring."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli.main import main
from app.orchestration.fleet_path import fleet_config, set_mqtt_password
from app.runtime import Options, Runtime
from tests.fleet.booths import SimBooth
from tests.fleet.broker import Broker, mosquitto_missing, wait_for

ACCOUNT = "ops_at_studio.example"
RIVAL = "rival_at_other.example"
# One user per account, named as its topic level; each may touch its own prefix only.
ACL = "pattern readwrite booth-credit-monitor/%u/#\n"


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[Broker]:
    reason = mosquitto_missing()
    if reason:
        pytest.skip(reason)
    b = Broker(tmp_path / "auth-broker", users={ACCOUNT: "pw-ops", RIVAL: "pw-rival"}, acl=ACL)
    b.start()
    yield b
    b.stop()


def configure(home: Path, port: int, password: str | None = "pw-ops") -> None:
    runtime = Runtime(Options(home=str(home)))
    try:
        s = runtime.settings
        s.mqtt_host, s.mqtt_port, s.mqtt_username = "127.0.0.1", port, ACCOUNT
        s.account_email, s.booth_name = "Ops@Studio.Example", "Front desk"
        runtime.save_settings()
        if password:
            assert set_mqtt_password(runtime, password) == "keyring"
    finally:
        runtime.close()


def test_settings_and_keyring_make_the_broker_config(home: Path, memory_keyring):
    configure(home, 1883)
    runtime = Runtime(Options(home=str(home)))
    try:
        config = fleet_config(runtime)
        assert config is not None
        assert (config.topics.account, config.topics.booth) == (ACCOUNT, "Front_desk")
        assert (config.broker.username, config.broker.password) == (ACCOUNT, "pw-ops")
        assert config.broker.clean_session is False  # the tray keeps its session
        viewer = fleet_config(runtime, viewer_only=True)
        assert viewer is not None and viewer.broker.client_id != config.broker.client_id
        assert viewer.broker.clean_session is True
        settings_text = runtime.paths.settings_file.read_text()
        assert "pw-ops" not in settings_text and '"mqtt_host": "127.0.0.1"' in settings_text
    finally:
        runtime.close()


def test_fleet_lists_the_accounts_booths_and_never_the_rivals(tmp_path: Path, home: Path,
                                                               memory_keyring, auth_broker,
                                                               capsys):
    configure(home, auth_broker.port)
    ours = [SimBooth(tmp_path, auth_broker.port, ACCOUNT, f"booth-{n}", user=ACCOUNT,
                     password="pw-ops") for n in range(3)]
    rival = SimBooth(tmp_path, auth_broker.port, RIVAL, "their-booth", user=RIVAL,
                     password="pw-rival")
    # A rival booth that tries to read our prefix: the broker's ACL gives it nothing.
    snoop = SimBooth(tmp_path, auth_broker.port, ACCOUNT, "snoop", user=RIVAL,
                     password="pw-rival")
    try:
        for b in [*ours, rival, snoop]:
            b.path.start()
        ours[1].change(held=2, queued=4)
        wait_for(lambda: all(b.waiting() == 0 for b in [*ours, rival]), 20, "all published")
        assert main(["--home", str(home), "fleet", "--json", "--wait", "10"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["account"] == ACCOUNT
        assert [b["booth"] for b in doc["booths"]] == ["booth-0", "booth-1", "booth-2"]
        assert doc["booths"][1]["held"] == 2 and doc["held"] == 2
        assert doc["balance_cents"] == 50_000 and doc["forecast"]["cents_per_hour"] == 900.0
        assert main(["--home", str(home), "fleet", "--wait", "10"]) == 0
        text = capsys.readouterr().out
        assert "3 booths, 3 online, 4 photos queued, 2 held" in text and "Booth 1" in text
        assert "their" not in text.lower()
        # The snoop was accepted by the broker but never got a message of ours (nor could it
        # publish there: its own state is not in our view).
        assert snoop.path.link.connects >= 1 and snoop.path.view().rows == []
        assert "snoop" not in [b["booth"] for b in doc["booths"]]
    finally:
        for b in [*ours, rival, snoop]:
            b.close()


def test_fleet_without_a_broker_says_so_in_one_line(home: Path, capsys):
    assert main(["--home", str(home), "fleet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No MQTT broker is set" in err[0]


def test_fleet_with_a_wrong_password_fails_in_one_line(home: Path, memory_keyring,
                                                       auth_broker, capsys):
    configure(home, auth_broker.port, password="wrong")
    assert main(["--home", str(home), "fleet", "--wait", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Could not reach the fleet broker" in err[0]
    assert "refused" in err[0].lower() or "not authori" in err[0].lower()


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Broker]:
    reason = mosquitto_missing()
    if reason:
        pytest.skip(reason)
    b = Broker(tmp_path / "tls-broker", tls=True)
    b.start()
    yield b
    b.stop()


def test_tls_with_the_brokers_ca_works_and_without_it_is_refused(tmp_path: Path,
                                                                 tls_broker: Broker):
    ca = str(tls_broker.ca_file)
    booth = SimBooth(tmp_path, tls_broker.port, ACCOUNT, "tls-booth", tls=True, ca_file=ca)
    viewer = SimBooth(tmp_path, tls_broker.port, ACCOUNT, "tls-viewer", tls=True, ca_file=ca)
    untrusting = SimBooth(tmp_path, tls_broker.port, ACCOUNT, "no-ca", tls=True)
    try:
        for b in (booth, viewer, untrusting):
            b.path.start()
        wait_for(lambda: "tls-booth" in {r.booth for r in viewer.path.view().rows}
                 and booth.waiting() == 0, 20, "the state over TLS")
        wait_for(lambda: untrusting.path.link.state.last_error is not None, 20,
                 "the untrusted certificate's refusal")
        assert "certificate not trusted" in str(untrusting.path.link.state.last_error)
        assert untrusting.path.link.connects == 0 and untrusting.waiting() == 1
        assert "no-ca" not in {r.booth for r in viewer.path.view().rows}
    finally:
        for b in (booth, viewer, untrusting):
            b.close()


def test_a_ca_file_that_cannot_be_read_is_said_in_one_line(home: Path, tmp_path: Path,
                                                           memory_keyring, capsys):
    configure(home, 8883, password=None)
    runtime = Runtime(Options(home=str(home)))
    runtime.settings.mqtt_tls, runtime.settings.mqtt_ca_file = True, str(tmp_path / "none.pem")
    runtime.save_settings()
    runtime.close()
    assert main(["--home", str(home), "fleet", "--wait", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CA file" in err[0] and "none.pem" in err[0]
