"""Issue 10 #14: plain http:// off this PC is refused unless settings.json opts in."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app.adapters.system.autostart import XdgAutostart
from app.core.alerts import alerts_for
from app.core.conditions import Condition, assess
from app.core.errors import NotConfigured
from app.orchestration.diagnostics import write_diagnostics
from app.runtime import Options, Runtime
from tests.test_diagnostics import assert_no_secret


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


def test_an_opted_in_plain_http_cloud_is_said_on_every_surface(tmp_path: Path) -> None:
    """Issue 10 #14: the opt-in was written only to the log; the operator must see, for as
    long as it lasts, that the token crosses the network in the clear."""
    runtime = _runtime(tmp_path, True)
    try:
        now = datetime.now(timezone.utc)
        view = runtime.view()
        found = assess(view, now)
        assert found.has(Condition.UNENCRYPTED)
        line = next(f.line for f in found.findings if f.condition is Condition.UNENCRYPTED)
        assert "in the clear" in line
        assert "unencrypted" in {a.key for a in alerts_for(view, [], now)}
    finally:
        runtime.close()


def test_a_loopback_http_cloud_is_not_called_unencrypted(tmp_path: Path) -> None:
    runtime = Runtime(Options(home=str(tmp_path / "home"), cloud_url="http://127.0.0.1:8765"))
    try:
        assert not assess(runtime.view(), datetime.now(timezone.utc)).has(Condition.UNENCRYPTED)
    finally:
        runtime.close()


def test_a_password_in_the_cloud_url_is_never_shown_stored_or_exported(tmp_path: Path) -> None:
    secret = "hunter2-Zq"
    runtime = Runtime(Options(home=str(tmp_path / "home"),
                              cloud_url=f"https://op:{secret}@cloud.example.com/base"))
    try:
        with pytest.raises(NotConfigured) as refused:
            runtime.cloud()
        assert secret not in str(refused.value) + (refused.value.hint or "")
        view = runtime.view()
        assert view.cloud_url == "https://cloud.example.com/base"
        assert secret not in json.dumps(view.to_json())
        saved = write_diagnostics(runtime, tmp_path / "diag.zip",
                                  autostart=XdgAutostart(tmp_path / "autostart"),
                                  qt_version="6.test")
        assert_no_secret(saved.path, secret)
        for path in (runtime.paths.data_dir, runtime.paths.log_dir):
            for file in Path(path).rglob("*"):
                if file.is_file():
                    assert secret.encode() not in file.read_bytes(), file
    finally:
        runtime.close()
