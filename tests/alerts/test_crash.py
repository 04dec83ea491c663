"""kill -9 at every step of a phone alert's way, then a normal run: the receiver gets it
exactly once, except for the one moment between the service taking it and the outbox
recording that, which costs one duplicate with the same alert number (the documented bound)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.adapters.system.secrets import TOKEN_ENV

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
ROOT = Path(__file__).resolve().parents[2]


def run_driver(home: Path, url: str, spec: str) -> subprocess.CompletedProcess[str]:
    # No keyring on the CI machine: the URLs land in the visible plain-text fallback, which is
    # what a booth without one does too.
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return subprocess.run([sys.executable, "-m", "tests.alerts.crash_driver", str(home), url,
                           spec], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def states(home: Path) -> list[str]:
    conn = sqlite3.connect(home / "data" / "monitor.sqlite3")
    try:
        return [r[0] for r in conn.execute("SELECT state FROM alert_outbox")]
    finally:
        conn.close()


@pytest.mark.parametrize(("spec", "copies"), [
    ("after:1", 1),  # committed, not sent: the next start sends it (and the repeat is ignored)
    ("after:2", 1),  # leased, not sent
    ("before:3", 1),  # about to send
    ("after:3", 2),  # the service has it, the outbox does not know: one duplicate
    ("after:4", 1),  # recorded per URL, not yet marked sent: not sent again
])
def test_a_kill_at_any_step_then_a_restart_delivers_it(tmp_path, receiver, spec, copies):
    home = tmp_path / "booth"
    killed = run_driver(home, receiver.url, spec)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    again = run_driver(home, receiver.url, "none")
    assert again.returncode == 0, again.stderr
    assert states(home) == ["sent"]
    assert receiver.titles() == ["Booth A: Credits refunded"] * copies
    assert {r["message"].rsplit("#", 1)[1] for r in receiver.received} == {"1"}
    assert run_driver(home, receiver.url, "none").returncode == 0
    assert len(receiver.received) == copies  # and never again
