"""Phone alerts through the whole tray app on the embedded demo cloud: Settings → Phone alerts
stores the URLs in the keyring, "Send a test alert" answers without blocking the window, and a
real low-balance alert reaches the receiver; the URLs never reach settings.json, the log or
the outbox."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from app.gui.main import MonitorApp
from app.orchestration.alert_targets import save_targets
from app.runtime import Options, Runtime, paths_for
from tests.support.alert_receiver import SECRET_TOPIC, free_port

DEAD_SECRET = "dead-service-secret-77c1"


@pytest.fixture
def tray_app(qtbot, qapp, home, memory_keyring):
    app = MonitorApp(qapp, Options(home=str(home), demo=True), tray_available=False)
    app.start()
    qtbot.waitUntil(lambda: app.snapshot is not None
                    and app.snapshot.state.balance_cents is not None, timeout=20_000)
    yield app
    app.confirm_quit = lambda _warning: True
    with qtbot.waitSignal(app.thread.finished, timeout=20_000):
        app.quit()
    app.dispose()


def every_byte(home: Path) -> bytes:
    """Everything the app wrote in its home: settings, logs, the store (with its WAL)."""
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def test_phone_alerts_from_settings_to_the_receiver(tray_app, qtbot, receiver, home,
                                                    memory_keyring):
    app = tray_app
    app.open_settings()
    dialog = app._dialog
    page = dialog.phone
    dialog.pages.setCurrentWidget(dialog.pages.widget(3))
    dead = f"json://127.0.0.1:{free_port()}/{DEAD_SECRET}"
    page.urls.setText(f"{receiver.url} {dead}")
    assert page.urls.echoMode().name == "Password"
    page.test.click()
    assert not page.test.isEnabled()  # the send runs on the worker; the window stays live
    qtbot.waitUntil(lambda: page.test.isEnabled(), timeout=20_000)
    lines = page.test_result.text().splitlines()
    assert lines[0].startswith("✔ JSON address 1: sent")
    assert lines[1].startswith("✘ JSON address 2 could not be reached")
    assert [t.endswith(": test alert") for t in receiver.titles()] == [True]

    # Save: the URLs go to the keyring, the routes to settings.json; the credits are "low" now.
    dialog.low_balance.setValue(1_000_000)
    with qtbot.waitSignal(app.worker.settings_applied, timeout=10_000):
        dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    qtbot.waitUntil(lambda: any("Credits running low" in t for t in receiver.titles()),
                    timeout=30_000)
    booth = app.snapshot.settings.booth_name or receiver.titles()[0].split(":")[0]
    assert f"{booth}: Credits running low" in receiver.titles()
    assert app.snapshot.alert_targets == ("JSON address 1", "JSON address 2")
    stored = [v for v in memory_keyring.items.values() if SECRET_TOPIC in v]
    assert len(stored) == 1 and DEAD_SECRET in stored[0]

    # The dead URL failed and was retried; nothing of either URL was written anywhere.
    store = paths_for(Options(home=str(home), demo=True)).store_file

    def rows() -> list[tuple]:
        conn = sqlite3.connect(store)
        try:
            return conn.execute("SELECT * FROM alert_outbox").fetchall()
        finally:
            conn.close()

    # Address 2 is tried after address 1 has it: its failure is recorded a moment later.
    qtbot.waitUntil(lambda: any("JSON address 2 could not" in str(r) for r in rows()),
                    timeout=10_000)
    # The log is set up once per process: in a test run it may be an earlier test's file.
    logs = b"".join(Path(h.baseFilename).read_bytes() for h in logging.getLogger().handlers
                    if isinstance(h, logging.FileHandler))
    assert b"phone alert #" in logs  # the log did record the relay's work, failures too
    written = every_byte(home) + logs
    assert SECRET_TOPIC.encode() not in written and DEAD_SECRET.encode() not in written

    # Settings again: the stored ones are named, never shown; "Remove" forgets them.
    app.open_settings()
    page = app._dialog.phone
    assert "JSON address 1, JSON address 2" in page.stored.text() and page.urls.text() == ""
    page.remove.setChecked(True)
    with qtbot.waitSignal(app.worker.settings_applied, timeout=10_000):
        app._dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    qtbot.waitUntil(lambda: app.snapshot.alert_targets == (), timeout=10_000)
    assert not any(SECRET_TOPIC in v for v in memory_keyring.items.values())


def test_the_tray_app_sends_one_link_down_and_one_link_back_per_outage(
        qtbot, qapp, home, memory_keyring, receiver):
    """As the issue's operator sees it: the demo cloud drops every connection, the tray app
    keeps syncing, the phone hears once that the cloud is unreachable and once that it is back
    (here the alert service stays reachable: a cloud outage, not the venue's Wi-Fi)."""
    setup = Runtime(Options(home=str(home), demo=True))
    setup.settings.offline_notice_seconds = 0  # announce at the first failed sync
    setup.settings.booth_name = "Booth A"
    setup.save_settings()
    save_targets(setup, [receiver.url])
    setup.close()
    app = MonitorApp(qapp, Options(home=str(home), demo=True), tray_available=False)
    app.start()
    try:
        qtbot.waitUntil(lambda: app.snapshot is not None
                        and app.snapshot.state.balance_cents is not None, timeout=20_000)
        disruptions = app.worker.shared_runtime()._demo.runtime.disruptions
        down, back = "Booth A: Cloud unreachable", "Booth A: Cloud reachable again"

        def syncs_until(title: str) -> None:
            def seen() -> bool:
                if title in receiver.titles():
                    return True
                app._refresh.emit()  # the app syncs once a minute: too slow for a test
                return False
            qtbot.waitUntil(seen, timeout=30_000)

        for _outage in range(2):
            disruptions.start_outage("drop", 0)  # until restored
            syncs_until(down)
            for _ in range(3):  # more failed syncs: no more alerts
                with qtbot.waitSignal(app.worker.snapshot, timeout=10_000):
                    app._refresh.emit()
            disruptions.restore()
            syncs_until(back)
            for _ in range(3):
                with qtbot.waitSignal(app.worker.snapshot, timeout=10_000):
                    app._refresh.emit()
            receiver.received = [r for r in receiver.received if r["title"] in (down, back)]
            assert receiver.titles() == [down, back]
            receiver.received.clear()
    finally:
        app.confirm_quit = lambda _warning: True
        with qtbot.waitSignal(app.thread.finished, timeout=20_000):
            app.quit()
        app.dispose()
