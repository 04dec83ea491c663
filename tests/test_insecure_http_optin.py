"""Issue 10 #14: plain http:// off this PC is refused unless settings.json opts in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.errors import NotConfigured
from app.runtime import Options, Runtime


def _runtime(tmp_path: Path, allow: bool | None) -> Runtime:
    home = tmp_path / "home"
    runtime = Runtime(Options(home=str(home), cloud_url="http://cloud.example.com"))
    if allow is not None:
        runtime.paths.settings_file.write_text(json.dumps({"allow_insecure_http": allow}))
        runtime.close()
        runtime = Runtime(Options(home=str(home), cloud_url="http://cloud.example.com"))
    return runtime


def test_plain_http_refused_by_default(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, None)
    try:
        with pytest.raises(NotConfigured, match="plain http"):
            runtime.cloud()
    finally:
        runtime.close()


def test_plain_http_allowed_when_operator_opts_in(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, True)
    try:
        assert runtime.settings.allow_insecure_http is True
        assert runtime.cloud().base_url == "http://cloud.example.com"
    finally:
        runtime.close()


def _this_pc_off_loopback() -> str:
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.200", 9))  # no packet is sent: this only picks a source address
        address = probe.getsockname()[0]
    except OSError:
        address = ""
    finally:
        probe.close()
    if not address or address.startswith("127."):
        pytest.skip("this machine has no address off loopback to stand in for a LAN cloud")
    return address


def test_first_run_connection_test_follows_the_same_opt_in() -> None:
    from app.orchestration.setup_path import check_connection

    url = f"http://{_this_pc_off_loopback()}:9"  # nothing listens: refused at once
    refused = check_connection(url, "t0ken-for-test")
    assert not refused.ok and "plain http" in refused.text
    allowed = check_connection(url, "t0ken-for-test", allow_insecure_http=True)
    assert not allowed.ok and "plain http" not in allowed.text
    assert allowed.text.startswith("Not connected")
