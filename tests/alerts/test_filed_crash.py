"""kill -9 between a claim filing's commit and its "filed" notice's take, then a restart: the
phone gets "Refund requested" / "Support asked" exactly once, naming the claims of that filing;
and the live notice and the catch-up of the same filing never both reach it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.adapters.system.secrets import TOKEN_ENV

ROOT = Path(__file__).resolve().parents[2]
posix_only = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
TITLES = {"refunds": "Booth A: Refund requested", "support": "Booth A: 2 requests to support"}
# One notice names both claims of the pass, as the live one would.
FIRST_LINES = {"refunds": "2 charged AI jobs without a result claimed back ($3.00) with the "
                          "cloud.",
               "support": "Sent with the cloud: purchase not credited, purchase not credited. "
                          "The monitor follows it until it is settled."}


def run_driver(home: Path, url: str, kind: str, spec: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return subprocess.run([sys.executable, "-m", "tests.alerts.filed_driver", str(home), url,
                           kind, spec], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


@posix_only
@pytest.mark.parametrize("kind", ["refunds", "support"])
def test_a_kill_between_the_filing_and_the_take_still_tells_the_phone_once(tmp_path, receiver,
                                                                           kind):
    home = tmp_path / "booth"
    killed = run_driver(home, receiver.url, kind, "take")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert receiver.received == []
    again = run_driver(home, receiver.url, kind, "none")  # the restart
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("notices=0 "), again.stdout  # nothing left to file
    assert receiver.titles() == [TITLES[kind]]
    assert receiver.received[0]["message"].split("\n")[0] == FIRST_LINES[kind]
    assert run_driver(home, receiver.url, kind, "none").returncode == 0
    assert len(receiver.received) == 1  # and never again


@posix_only
def test_a_pass_cut_short_tells_each_filing_once(tmp_path, receiver):
    """Killed after the first claim's filing: the catch-up tells that one, the restarted
    pass files and tells the second; neither twice."""
    home = tmp_path / "booth"
    assert run_driver(home, receiver.url, "refunds", "filed:1").returncode == -signal.SIGKILL
    assert run_driver(home, receiver.url, "refunds", "none").returncode == 0
    assert run_driver(home, receiver.url, "refunds", "none").returncode == 0
    messages = sorted(r["message"].split("\n")[0] for r in receiver.received)
    assert messages == ["1 charged AI job without a result claimed back ($1.50) with the "
                        "cloud."] * 2


@pytest.mark.parametrize("kind", ["refunds", "support"])
def test_without_a_crash_the_live_notice_and_the_catch_up_are_one(tmp_path, receiver, kind):
    home = tmp_path / "booth"
    for _ in range(2):
        assert run_driver(home, receiver.url, kind, "none").returncode == 0
    assert receiver.titles() == [TITLES[kind]]
