"""The booth PC's first start and its tools, through the whole tray app (offscreen): the setup
window on an empty home against a real demo cloud, "Try the demo instead", start at login from
Settings, "Save diagnostics…" and the About box."""

from __future__ import annotations

import json
import zipfile

import pytest
from PySide6.QtCore import Qt

from app import APP_NAME, __version__
from app.core.money import dollars
from app.gui.main import MonitorApp
from app.runtime import Options


def stop(app: MonitorApp, qtbot) -> None:
    app.confirm_quit = lambda _warning: True
    with qtbot.waitSignal(app.thread.finished, timeout=15_000):
        app.quit()
    app.dispose()


@pytest.fixture
def fresh(qtbot, qapp, home, memory_keyring):
    """The tray app on a home where nothing is set up (no cloud, no token)."""
    app = MonitorApp(qapp, Options(home=str(home)), tray_available=False)
    app.start()
    qtbot.waitUntil(lambda: app.setup.dialog is not None and app.setup.dialog.isVisible(),
                    timeout=15_000)
    yield app
    if not app.disposed:
        stop(app, qtbot)


def menu_action(app: MonitorApp, text: str):
    return next(a for a in app.tray.menu.actions() if a.text() == text)


def test_setup_tests_the_connection_and_saves_a_working_configuration(
        fresh, qtbot, home, demo_cloud, memory_keyring, _own_autostart_folder):
    dialog = fresh.setup.dialog
    qtbot.keyClicks(dialog.cloud_url, demo_cloud.url)
    qtbot.keyClicks(dialog.token, "demo-token")
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.result.text().startswith("Connected: $"), timeout=15_000)
    assert "@" in dialog.account_email.text()  # filled in from the account
    hot = home / "booth photos" / "in"
    dialog.hot_folder.setText(str(hot))
    assert dialog.start_at_login.isChecked()  # on by default after setup
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=15_000)

    saved = json.loads((home / "config" / "settings.json").read_text())
    assert saved["cloud_url"] == demo_cloud.url and saved["hot_folder"] == str(hot)
    assert "demo-token" not in (home / "config" / "settings.json").read_text()
    assert memory_keyring.items[(APP_NAME, f"token:{demo_cloud.url}")] == "demo-token"
    assert hot.is_dir() and (home / "data" / "results").is_dir()
    assert (_own_autostart_folder / "autostart" / f"{APP_NAME}.desktop").exists()
    assert dialog.token.text() == ""
    # A working configuration: the monitor now shows the cloud's balance.
    qtbot.waitUntil(lambda: fresh.snapshot is not None
                    and fresh.snapshot.state.balance_cents is not None, timeout=15_000)
    assert fresh.window.balance.text() == dollars(fresh.snapshot.state.balance_cents)
    qtbot.waitUntil(lambda: fresh.autostart_on is True, timeout=5_000)


def test_a_refused_token_says_so_without_the_token(fresh, qtbot, demo_cloud):
    dialog = fresh.setup.dialog
    dialog.cloud_url.setText(demo_cloud.url)
    dialog.token.setText("wrong-token-7781")
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.result.text().startswith("Not connected"), timeout=15_000)
    assert "wrong-token-7781" not in dialog.result.text()
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)  # saving is still allowed
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=15_000)


def test_save_needs_a_url_and_a_token(fresh, qtbot, home):
    dialog = fresh.setup.dialog
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert "Enter the cloud URL and the API token" in dialog.result.text()
    assert dialog.isVisible() and not (home / "config" / "settings.json").exists()


def test_try_the_demo_instead_restarts_on_the_demo_cloud(fresh, qtbot, qapp, home):
    qtbot.mouseClick(fresh.setup.dialog.demo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not fresh.thread.isRunning(), timeout=15_000)
    assert fresh.restart_with == Options(home=str(home), demo=True)
    fresh.dispose()
    demo = MonitorApp(qapp, fresh.restart_with, tray_available=False)
    demo.start()
    qtbot.waitUntil(lambda: demo.snapshot is not None
                    and demo.snapshot.state.balance_cents is not None, timeout=15_000)
    assert demo.setup.dialog is None  # the demo needs no setup
    stop(demo, qtbot)


@pytest.fixture
def demo(qtbot, qapp, home, memory_keyring):
    app = MonitorApp(qapp, Options(home=str(home), demo=True), tray_available=False)
    app.start()
    qtbot.waitUntil(lambda: app.snapshot is not None and app.autostart_on is not None,
                    timeout=15_000)
    yield app
    stop(app, qtbot)


def test_the_settings_switch_adds_and_removes_the_autostart_entry(demo, qtbot,
                                                                  _own_autostart_folder):
    entry = _own_autostart_folder / "autostart" / f"{APP_NAME}.desktop"
    assert demo.autostart_on is False and not entry.exists()
    for on in (True, False):
        demo.open_settings()
        dialog = demo._dialog
        assert dialog.start_at_login.isVisibleTo(dialog)
        assert dialog.start_at_login.isChecked() is (not on)
        dialog.start_at_login.setChecked(on)
        dialog._save()
        qtbot.waitUntil(lambda on=on: demo.autostart_on is on, timeout=10_000)
        assert entry.exists() is on
    # Started at login, the demo stays the demo.
    demo.open_settings()
    demo._dialog.start_at_login.setChecked(True)
    demo._dialog._save()
    qtbot.waitUntil(lambda: entry.exists(), timeout=10_000)
    assert "--demo" in entry.read_text()


def test_save_diagnostics_from_the_menu_writes_the_zip_on_the_worker(demo, qtbot, tmp_path):
    target = tmp_path / "for support.zip"
    asked = []
    demo.tools.ask_path = lambda _parent, suggested: asked.append(suggested) or str(target)
    with qtbot.waitSignal(demo.worker.system.diagnostics_saved, timeout=15_000) as saved:
        menu_action(demo, "Save diagnostics…").trigger()
    assert saved.args[0] is True and str(target) in saved.args[1]
    assert asked[0].name.startswith(f"{APP_NAME}-diagnostics-")
    with zipfile.ZipFile(target) as archive:
        about = json.loads(archive.read("about.json"))
    assert about["qt"] and about["profile"] == "demo"
    qtbot.waitUntil(lambda: "Diagnostics saved" in demo.window.last_alert.full_text())


def test_the_about_box_says_what_runs(demo, qtbot, home):
    menu_action(demo, "About…").trigger()
    about = demo.tools.about
    assert about is not None and about.isVisible()
    text = about.plain_text()
    assert __version__ in text and "Python" in text and "Qt" in text
    assert str(home / "data" / "demo") in text
    about.reject()
