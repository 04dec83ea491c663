"""The command line as a booth script runs it: a real process, real files, real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def cli(home, *args, env_extra=None, timeout=60):
    env = {**os.environ, "BOOTH_MONITOR_HOME": str(home), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "app", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_one_line_reason(result):
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("booth-credit-monitor: "), result.stderr
    return lines[0]


def test_status_on_a_new_machine_needs_no_network(home):
    result = cli(home, "status", "--json", env_extra={"BOOTH_MONITOR_CLOUD_URL":
                                                      "http://127.0.0.1:9"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["balance_cents"] is None and data["stale"] is True and data["as_of"] is None
    assert data["cloud_url"] == "http://127.0.0.1:9"


def test_refresh_then_status_offline_shows_the_cached_figure(home, demo_cloud):
    token = {"BOOTH_MONITOR_TOKEN": "demo-token"}
    fresh = cli(home, "refresh", "--json", "--cloud", demo_cloud.url, env_extra=token)
    assert fresh.returncode == 0, fresh.stderr
    data = json.loads(fresh.stdout)
    assert data["balance_cents"] > 0 and data["stale"] is False
    assert data["account_email"] == "demo@booth.example"

    url = demo_cloud.url
    demo_cloud.stop()
    cached = json.loads(cli(home, "status", "--json", "--cloud", url).stdout)
    assert cached["balance_cents"] == data["balance_cents"]
    assert cached["age_seconds"] >= 0 and cached["as_of"] == data["as_of"]

    failed = cli(home, "refresh", "--json", "--cloud", url, env_extra=token)
    reason = assert_one_line_reason(failed)
    assert "cannot connect" in reason.lower()
    after = json.loads(failed.stdout)
    assert after["stale"] and after["offline"] and after["balance_cents"] == data["balance_cents"]


def test_human_status_says_how_old_the_balance_is(home, demo_cloud):
    cli(home, "refresh", "--cloud", demo_cloud.url, env_extra={"BOOTH_MONITOR_TOKEN":
                                                                "demo-token"})
    text = cli(home, "status", "--cloud", demo_cloud.url).stdout
    assert "as of" in text and "just now" in text and "demo@booth.example" in text


def test_bad_token_exits_nonzero_without_leaking_it(home, demo_cloud):
    result = cli(home, "refresh", "--cloud", demo_cloud.url,
                 env_extra={"BOOTH_MONITOR_TOKEN": "wrong-secret-xyz"})
    reason = assert_one_line_reason(result)
    assert "token" in reason.lower()
    assert "wrong-secret-xyz" not in result.stdout + result.stderr
    logs = "".join(p.read_text() for p in home.rglob("*.log"))
    assert "wrong-secret-xyz" not in logs


def test_no_cloud_configured_is_a_clear_error(home):
    reason = assert_one_line_reason(cli(home, "refresh"))
    assert "no cloud url is set" in reason.lower()


def test_demo_mode_runs_the_embedded_cloud(home):
    result = cli(home, "refresh", "--json", "--demo")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["balance_cents"] > 0 and data["cloud_url"].startswith("http://127.0.0.1:")
    # The demo keeps its state in the data folder, apart from a real account's cache.
    assert (home / "data" / "demo" / "demo-cloud.sqlite3").exists()
    assert not (home / "data" / "monitor.sqlite3").exists()
    again = json.loads(cli(home, "status", "--json", "--demo").stdout)
    assert again["balance_cents"] == data["balance_cents"]


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["status", "--help"]])
def test_help_and_version(home, args):
    assert cli(home, *args).returncode == 0


def test_status_json_carries_queue_and_refund_counts(home):
    data = json.loads(cli(home, "status", "--json", "--demo").stdout)
    assert data["queue"]["open"] == 0 and data["queue"]["paused"] is None
    assert data["refunds"]["claims"] == 0 and data["refunds"]["claimed_cents"] == 0


def test_tray_app_without_a_desktop_says_so_in_one_line(home):
    if not sys.platform.startswith("linux"):
        pytest.skip("the no-desktop check is for Linux sessions")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["BOOTH_MONITOR_HOME"] = str(home)
    result = subprocess.run([sys.executable, "-m", "app", "--demo"], env=env, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "no desktop session" in assert_one_line_reason(result)
