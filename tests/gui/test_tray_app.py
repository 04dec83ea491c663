"""The tray app driven as an operator would, offscreen, against the embedded demo cloud."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from app.core.conditions import Condition
from app.core.money import dollars
from app.gui.main import MonitorApp
from app.gui.tray import tooltip_text
from app.runtime import Options


@pytest.fixture
def monitor(qtbot, qapp, home, memory_keyring):
    app = MonitorApp(qapp, Options(home=str(home), demo=True), tray_available=False)
    app.start()
    qtbot.waitUntil(lambda: app.snapshot is not None and app.snapshot.state.balance_cents
                    is not None, timeout=15_000)
    yield app
    with qtbot.waitSignal(app.thread.finished, timeout=10_000):
        app.quit()
    app.dispose()


def test_window_shows_balance_with_its_age(monitor, qtbot):
    view = monitor.snapshot.view()
    assert monitor.window.isVisible()  # no system tray offscreen: the window is the UI
    assert monitor.window.balance.text() == dollars(view.balance_cents)
    assert "as of" in monitor.window.age.text()
    assert monitor.window.activity.rowCount() > 5
    found = monitor.snapshot.assess()
    assert found.worst in (Condition.CURRENT, Condition.LOW_BALANCE)
    assert dollars(view.balance_cents) in tooltip_text(found)


def test_the_worker_never_runs_on_the_gui_thread(monitor):
    assert monitor.worker.thread() is monitor.thread
    assert monitor.thread is not QApplication.instance().thread()
    assert isinstance(monitor.thread, QThread) and monitor.thread.isRunning()


def test_outage_turns_the_window_stale_and_back(monitor, qtbot):
    monitor._demo.emit("outage", {"mode": "drop", "seconds": 0})
    qtbot.waitUntil(lambda: monitor.snapshot.view().offline, timeout=15_000)
    assert "just now" not in monitor.window.age.text()
    assert monitor.window.state.text() == "OFFLINE"
    monitor._demo.emit("restore", {})
    qtbot.waitUntil(lambda: not monitor.snapshot.view().stale, timeout=15_000)


def test_low_balance_notifies_and_paints_the_icon(monitor, qtbot):
    balance = monitor.snapshot.state.balance_cents
    with qtbot.waitSignal(monitor.worker.alert, timeout=15_000,
                          check_params_cb=lambda a: a.key.startswith("low-balance")):
        monitor._settings.emit({"low_balance_cents": balance + 100}, {})
    qtbot.waitUntil(lambda: "Credits running low" in monitor.window.last_alert.full_text())
    assert monitor.snapshot.assess().worst is Condition.LOW_BALANCE


def test_settings_save_token_to_keyring_not_file(qtbot, qapp, home, memory_keyring):
    app = MonitorApp(qapp, Options(home=str(home), cloud_url="http://127.0.0.1:9"),
                     tray_available=False)
    app.start()
    qtbot.waitUntil(lambda: app.snapshot is not None, timeout=10_000)
    app.open_settings()
    dialog = app._dialog
    dialog.account_email.setText("op@booth.test")
    dialog.low_balance.setValue(12.5)
    dialog.token.setText("sekrit-token-123")
    dialog.smtp_host.setText("mail.booth.test")
    dialog.smtp_password.setText("smtp-pass-456")
    dialog.refund_channel.setCurrentIndex(dialog.refund_channel.findData("email"))
    dialog.threshold.setValue(6.5)
    dialog.default_feature.setCurrentIndex(dialog.default_feature.findData("draw_me"))
    dialog.folder_features.add_row("heads", "ai_headshot")
    dialog.folder_features.add_row("  ", "draw_me")  # an empty subfolder name is dropped
    dialog.hold_on_slow_link.setChecked(False)
    dialog._save()
    settings_file = home / "config" / "settings.json"
    qtbot.waitUntil(lambda: settings_file.exists()
                    and json.loads(settings_file.read_text()).get("low_balance_cents") == 1250,
                    timeout=10_000)
    qtbot.waitUntil(lambda: "smtp-pass-456" in memory_keyring.items.values(), timeout=10_000)
    saved = json.loads(settings_file.read_text())
    assert (saved["refund_channel"], saved["smtp_host"]) == ("email", "mail.booth.test")
    assert (saved["preflight_threshold_mbps"], saved["default_feature"]) == (6.5, "draw_me")
    assert saved["folder_features"] == {"heads": "ai_headshot"}
    assert saved["hold_on_slow_link"] is False
    text = settings_file.read_text()
    assert "sekrit" not in text and "smtp-pass" not in text
    assert "sekrit-token-123" in memory_keyring.items.values()
    logs = "".join(p.read_text() for p in home.rglob("*.log"))
    assert "sekrit" not in logs and "smtp-pass" not in logs
    # nothing is listening on port 9: the failure is shown, never the token
    qtbot.waitUntil(lambda: app.snapshot.view().last_error is not None, timeout=10_000)
    assert "sekrit" not in (app.snapshot.view().last_error or "")
    with qtbot.waitSignal(app.thread.finished, timeout=10_000):
        app.quit()
    app.dispose()


SLOW_EXIT = Path(__file__).resolve().parent / "slow_exit"  # its sitecustomize.py


def start_tray_copy(home: Path, *, slow_exit: bool = False
                    ) -> tuple[subprocess.Popen, dict[str, str]]:
    """The tray app in its own process on the demo, returned once its UI is on screen; with
    `slow_exit` its teardown goes on for a while after it closed its single-instance
    connection (tests/gui/slow_exit). The env returned is for the commands, without that."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "BOOTH_MONITOR_HOME": str(home),
           "BOOTH_MONITOR_READY_FILE": str(home / "ready")}
    tray_env = dict(env)
    if slow_exit:
        root = str(Path(__file__).resolve().parents[2])
        tray_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(SLOW_EXIT), root, env.get("PYTHONPATH")) if p)
    first = subprocess.Popen([sys.executable, "-m", "app", "--demo"], env=tray_env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (home / "ready").exists():  # another process: no Qt event loop here to wait on
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the tray app never showed its UI"
        time.sleep(0.05)
    return first, env


def test_second_launch_hands_over_to_the_running_copy(tmp_path):
    first, env = start_tray_copy(tmp_path)
    try:
        second = subprocess.run([sys.executable, "-m", "app", "--demo"], env=env,
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout
        assert first.poll() is None  # the first copy is still the one running
    finally:
        first.terminate()
        first.wait(10)


def test_quit_command_stops_the_running_copy_the_way_its_menu_does(tmp_path):
    """What the installer runs before replacing files: the copy hands back its queue and closes
    the store (SQLite removes the WAL file when the last connection closes cleanly; a killed
    process leaves it behind), instead of being killed mid-write."""
    running, env = start_tray_copy(tmp_path, slow_exit=True)
    try:
        asked = subprocess.run([sys.executable, "-m", "app", "quit", "--wait", "30"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert asked.returncode == 0, asked.stderr
        assert "has quit" in asked.stdout
        # "has quit" means the process is gone, not that it is still tearing down (the
        # installer replaces its files next): it has ended already, and cleanly.
        assert running.poll() == 0, "the tray app was still running after 'has quit'"
    finally:
        if running.poll() is None:
            running.kill()
            running.wait(10)
    logs = "".join(p.read_text() for p in tmp_path.rglob("*.log"))
    assert "monitor stopped; store closed" in logs
    stores = list(tmp_path.rglob("monitor.sqlite3"))
    assert stores and not [p for p in tmp_path.rglob("*.sqlite3-wal")]
    again = subprocess.run([sys.executable, "-m", "app", "quit", "--wait", "1"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert (again.returncode, again.stdout.strip()) == (0, "Booth Credit Monitor is not running.")


def test_quit_says_still_stopping_while_the_process_is_there(tmp_path):
    """A copy whose teardown outlasts --wait is reported as still stopping (exit 1: the
    installer then kills it), even though it closed its connection long before."""
    running, env = start_tray_copy(tmp_path, slow_exit=True)
    try:
        asked = subprocess.run([sys.executable, "-m", "app", "quit", "--wait", "0.2"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert asked.returncode == 1, asked.stdout + asked.stderr
        assert "still stopping" in asked.stdout
        assert running.wait(30) == 0  # it does end, cleanly
    finally:
        if running.poll() is None:
            running.kill()
            running.wait(10)


def test_recovers_on_its_own_when_the_cloud_returns(qtbot, qapp, home, memory_keyring, tmp_path):
    from app.core.backoff import Backoff
    from app.democloud.server import DemoCloud

    cloud = DemoCloud(tmp_path / "c.sqlite3")
    cloud.start()
    port, url = int(cloud.url.rsplit(":", 1)[1]), cloud.url
    app = MonitorApp(qapp, Options(home=str(home), cloud_url=url), tray_available=False,
                     backoff=Backoff(base=0.2, cap=0.5, floor=0.1))
    app.start()
    try:
        app._settings.emit({}, {"token": "demo-token"})
        qtbot.waitUntil(lambda: app.snapshot is not None and app.snapshot.state.balance_cents
                        is not None and not app.snapshot.view().stale, timeout=15_000)
        cloud.stop()
        app._refresh.emit()
        qtbot.waitUntil(lambda: app.snapshot.view().offline, timeout=15_000)
        failures = app.snapshot.state.health.consecutive_failures
        qtbot.waitUntil(lambda: app.snapshot.state.health.consecutive_failures > failures + 1,
                        timeout=15_000)  # it keeps trying on its own, with backoff
        cloud = DemoCloud(tmp_path / "c.sqlite3", port=port)
        cloud.start()
        qtbot.waitUntil(lambda: not app.snapshot.view().stale, timeout=15_000)
        assert app.window.state.text() in ("CURRENT", "LOW BALANCE")
    finally:
        cloud.stop()
        with qtbot.waitSignal(app.thread.finished, timeout=10_000):
            app.quit()
        app.dispose()


def test_an_unexpected_error_does_not_end_the_refresh_loop(qtbot, qapp, home, memory_keyring,
                                                         monkeypatch):
    from app.core.backoff import Backoff
    from app.runtime import Runtime

    calls = []
    real_refresh = Runtime.refresh

    def broken_once(self):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real_refresh(self)

    monkeypatch.setattr(Runtime, "refresh", broken_once)
    app = MonitorApp(qapp, Options(home=str(home), demo=True), tray_available=False,
                     backoff=Backoff(base=0.1, cap=0.3, floor=0.05))
    with qtbot.waitSignal(app.worker.problem, timeout=15_000,
                          check_params_cb=lambda _title, message: "unexpected" in message):
        app.start()
    # The loop lives on: the next sync comes by itself and succeeds.
    qtbot.waitUntil(lambda: len(calls) >= 2 and app.snapshot is not None
                    and app.snapshot.state.balance_cents is not None
                    and not app.snapshot.syncing, timeout=15_000)
    assert "unexpected" in app.window.last_alert.full_text()
    with qtbot.waitSignal(app.thread.finished, timeout=10_000):
        app.quit()
    app.dispose()


def test_the_window_comes_back_where_it_was_left_clamped_to_the_screen(qtbot, qapp, home,
                                                                       memory_keyring):
    from app.gui.screen_fit import available

    first = MonitorApp(qapp, Options(home=str(home), demo=True), tray_available=False)
    first.start()
    qtbot.waitUntil(lambda: first.snapshot is not None, timeout=15_000)
    area = available()
    first.window.resize(600, 440)
    first.window.move(area.left() + 30, area.top() + 20)
    saved = home / "cache" / "demo" / "window.json"
    first.window._emit_geometry()
    qtbot.waitUntil(saved.exists, timeout=10_000)
    assert json.loads(saved.read_text())["geometry"] == [area.left() + 30, area.top() + 20,
                                                         600, 440]
    with qtbot.waitSignal(first.thread.finished, timeout=10_000):
        first.quit()
    first.dispose()

    second = MonitorApp(qapp, Options(home=str(home), demo=True), tray_available=False)
    second.start()
    qtbot.waitUntil(lambda: second.snapshot is not None, timeout=15_000)
    qtbot.waitUntil(lambda: second.window.size().width() == 600, timeout=5_000)
    assert (second.window.pos().x(), second.window.pos().y()) == (area.left() + 30,
                                                                  area.top() + 20)
    assert (second.window.width(), second.window.height()) == (600, 440)
    with qtbot.waitSignal(second.thread.finished, timeout=10_000):
        second.quit()
    second.dispose()


def test_a_remembered_geometry_from_a_bigger_monitor_is_clamped(qapp):
    from PySide6.QtCore import QRect

    from app.gui.screen_fit import FRAME, clamp

    area = QRect(0, 0, 911, 485)
    rect = clamp(QRect(5000, 3000, 4000, 3000), area)
    grown = QRect(rect.x(), rect.y(), rect.width() + FRAME.width(),
                  rect.height() + FRAME.height())
    assert area.contains(grown), (rect, area)
    assert clamp(QRect(40, 30, 600, 400), area) == QRect(40, 30, 600, 400)
