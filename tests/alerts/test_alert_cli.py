"""`alerts` and `alerts test` as a booth script runs them: a subprocess on the test's home, the
URLs in the plain-text fallback (no keyring on the CI machine), a real receiver on loopback."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import keyring
import pytest
from keyring.backends.null import Keyring as NullKeyring

from app.core.alerts import Alert
from app.orchestration.alert_path import AlertPath
from app.orchestration.alert_targets import save_targets
from app.runtime import Options, Runtime, utc_now
from tests.cli.support import run
from tests.support.alert_receiver import SECRET_TOPIC, free_port


@pytest.fixture
def booth(home: Path, receiver):
    """A booth whose alert URL is in the visible fallback file, as the CLI will read it."""
    previous = keyring.get_keyring()
    keyring.set_keyring(NullKeyring())
    runtime = Runtime(Options(home=str(home)))
    runtime.settings.booth_name = "Booth A"
    runtime.save_settings()
    assert save_targets(runtime, [receiver.url]) == "plaintext-file"
    yield runtime
    runtime.close()
    keyring.set_keyring(previous)


def test_alerts_test_sends_one_and_says_so(home, booth, receiver):
    done = run(home, "alerts", "test")
    assert done.code == 0, done
    assert done.stdout.startswith("sent    JSON address 1: sent.")
    assert receiver.titles() == ["Booth A: test alert"]
    receiver.stop()
    failed = run(home, "alerts", "test", "--json")
    assert failed.code == 1
    assert failed.json()["results"][0]["ok"] is False
    line = failed.one_line()
    assert "1 of 1 alert addresses did not take the test alert" in line
    assert SECRET_TOPIC not in failed.stdout + failed.stderr


def test_alerts_lists_sent_late_waiting_and_dropped(home, booth, receiver):
    path = AlertPath(booth)
    now = utc_now()
    low = Alert("low-balance:2000", "Credits running low", "$1 left.", lasting=True)
    path.take([Alert("refund-refunded:c1", "Credits refunded", "$1.50 is back.", "info")],
              now - timedelta(minutes=10))
    path.take([low], now - timedelta(minutes=10))  # its condition has cleared: dropped
    path.deliver(now)
    receiver.stop()
    path.take([Alert("stuck", "Queue not moving", "3 photos.", "critical")], now)
    path.deliver(now)  # the service is down: waiting
    doc = run(home, "alerts", "--json").json()
    assert doc["targets"] == ["JSON address 1"] and doc["waiting"] == 1
    assert [(a["title"], a["state"]) for a in doc["alerts"]] == [
        ("Queue not moving", "waiting"), ("Credits running low", "dropped"),
        ("Credits refunded", "late")]
    text = run(home, "alerts")
    assert text.code == 0 and "Phone alerts go to: JSON address 1" in text.stdout
    assert "could not be reached" in text.stdout and SECRET_TOPIC not in text.stdout


def test_alerts_without_an_address_says_where_to_set_one(home):
    assert "No phone alert address is set" in run(home, "alerts").stdout
    line = run(home, "alerts", "test").one_line()
    assert line.endswith("Test alert not sent: no phone alert address is set. Add one in "
                         "Settings → Phone alerts.")


def test_alerts_set_reads_the_urls_from_stdin_and_clear_forgets_them(home, receiver):
    dead_ntfy = f"ntfy://127.0.0.1:{free_port()}/topic-x1"  # loopback: never the real ntfy.sh
    done = run(home, "alerts", "set", stdin=f"{receiver.url}\n{dead_ntfy}\n")
    assert done.code == 0, done
    assert done.stdout.strip() == ("Stored (plaintext-file): JSON address 1, "
                                   "ntfy address 2")
    assert SECRET_TOPIC not in done.stdout + done.stderr
    assert run(home, "alerts", "test").code == 1  # nothing listens for the ntfy one
    assert len(receiver.received) == 1
    assert run(home, "alerts", "set", stdin="").code == 2
    assert run(home, "alerts", "clear").stdout.strip() == "No phone alert address is stored now."
    assert "No phone alert address is set" in run(home, "alerts").stdout
