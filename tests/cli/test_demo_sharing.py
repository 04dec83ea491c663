"""`--demo` commands and the tray app's demo cloud: one demo cloud, found through the address
file its starter keeps in the demo data folder, checked with GET /v1/health before use."""

from __future__ import annotations

import json
import socket

from app.runtime import Options, Runtime
from tests.cli.support import demo, run


def _address_file(home):
    return home / "data" / "demo" / "demo-cloud.json"


def test_demo_commands_use_the_running_tray_apps_demo_cloud(home):
    # What the tray app's monitor worker does at start (app/gui/monitor_worker.py).
    tray = Runtime(Options(home=str(home), demo=True))
    try:
        url = tray.start_demo_cloud().url
        recorded = json.loads(_address_file(home).read_text(encoding="utf-8"))
        assert recorded["url"] == url and recorded["pid"] > 0
        assert recorded["started_at"].endswith("Z")

        status = run(home, "--demo", "status", "--json")
        assert status.code == 0 and status.json()["cloud_url"] == url, status
        assert status.json()["demo"] is True
        fresh = run(home, "--demo", "refresh", "--json")
        assert fresh.code == 0 and fresh.json()["cloud_url"] == url, fresh

        # Outages and revoked tokens live in the running server's memory: a command on a demo
        # cloud of its own would not see this one.
        demo(url, "revoke-token")
        refused = run(home, "--demo", "refresh")
        assert refused.code == 1 and "token" in refused.one_line().lower()
        demo(url, "restore")
    finally:
        tray.close()
    assert not _address_file(home).exists(), "a clean stop removes the address"

    after = run(home, "--demo", "status", "--json")
    assert after.code == 0 and after.json()["cloud_url"] is None and after.json()["demo"]
    assert "demo cloud, not running" in run(home, "--demo", "status").stdout


def test_an_address_left_by_a_crash_is_ignored(home):
    with socket.socket() as probe:  # a loopback port that nothing listens on any more
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    _address_file(home).parent.mkdir(parents=True)
    _address_file(home).write_text(json.dumps({"url": dead, "pid": 999999}), encoding="utf-8")

    assert run(home, "--demo", "status", "--json").json()["cloud_url"] is None
    fresh = run(home, "--demo", "refresh", "--json")  # starts a demo cloud of its own
    assert fresh.code == 0, fresh
    assert fresh.json()["cloud_url"] not in (None, dead) and fresh.json()["balance_cents"] > 0
    assert json.loads(_address_file(home).read_text())["url"] == dead, \
        "a command's own demo cloud is not advertised (it stops with the command)"


def test_an_address_that_is_not_loopback_is_never_contacted(home, tmp_path):
    from app.adapters.system.demo_address import read_demo_address

    path = tmp_path / "demo-cloud.json"
    for url in ("http://198.51.100.7:8765", "https://127.0.0.1:8765", "garbage"):
        path.write_text(json.dumps({"url": url, "pid": 1}), encoding="utf-8")
        assert read_demo_address(path) is None, url
    path.write_text("{not json", encoding="utf-8")
    assert read_demo_address(path) is None


def test_a_demo_home_read_without_demo_gets_a_hint(home):
    assert run(home, "--demo", "refresh").code == 0  # the demo profile has data now

    status = run(home, "status")
    assert status.code == 1 and "balance unknown" in status.stdout
    line = status.one_line()
    assert "No cloud URL is set" in line and "add --demo" in line
    assert "add --demo" in run(home, "queue").one_line()
    # With a cloud given, the real profile is meant: no hint.
    assert run(home, "--cloud", "http://127.0.0.1:9", "status").err_lines == []
