"""`booth-credit-monitor preflight` as a booth script runs it: a real process and the demo cloud."""

from __future__ import annotations

import json

from tests.test_cli import assert_one_line_reason, cli


def test_preflight_json_against_the_demo_cloud(home):
    done = cli(home, "--demo", "preflight", "--json", "--threshold-mbps", "8")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["verdict"] == "ok" and data["threshold_mbps"] == 8
    for key in ("upload_mbps", "download_mbps", "bytes_up", "bytes_down", "seconds", "method"):
        assert data[key] is not None, key
    assert data["bytes_up"] <= 2_000_000 and data["bytes_down"] <= 2_000_000


def test_preflight_is_recorded_and_spending_is_counted(home):
    assert cli(home, "--demo", "preflight").returncode == 0
    done = cli(home, "--demo", "preflight")
    assert done.returncode == 0, done.stderr
    assert "Verdict   ok" in done.stdout
    assert "Today     2 check(s)" in done.stdout


def test_preflight_without_a_cloud_fails_with_one_line(home):
    done = cli(home, "preflight", "--cloud", "http://127.0.0.1:9",
               env_extra={"BOOTH_MONITOR_TOKEN": "some-token"})
    reason = assert_one_line_reason(done)
    assert "could not measure" in reason.lower() and "127.0.0.1:9" in reason


def test_preflight_json_still_prints_the_offline_result(home):
    done = cli(home, "preflight", "--json", "--cloud", "http://127.0.0.1:9",
               env_extra={"BOOTH_MONITOR_TOKEN": "some-token"})
    assert done.returncode == 1
    assert json.loads(done.stdout)["verdict"] == "offline"


def test_a_bad_threshold_is_refused(home):
    assert cli(home, "--demo", "preflight", "--threshold-mbps", "0").returncode == 2


def test_the_runtime_shares_one_preflight_per_threshold(home):
    from app.runtime import Options, Runtime

    runtime = Runtime(Options(home=str(home), demo=True))
    try:
        first = runtime.preflight()
        assert runtime.preflight() is first  # the tray and the job path share its lock
        assert runtime.preflight(8.0) is not first
        assert runtime.preflight(8.0).policy.threshold_mbps == 8.0
    finally:
        runtime.close()
