"""As an operator runs it: two tray apps (two booths of one account, each on its own demo
cloud) and a Mosquitto on loopback. Booth A queues photos while the broker is down (and its
cloud is unreachable, so they stay queued); once the broker is back, booth B's Fleet tab shows
them, and A's link as offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.adapters.system.settings_file import load_settings, save_settings
from app.democloud.images import make_png
from app.gui.main import MonitorApp
from app.runtime import Options, paths_for
from tests.fleet.broker import Broker

ACCOUNT = "demo_fleet"


def tray_app(qapp, home: Path, port: int, name: str) -> MonitorApp:
    options = Options(home=str(home), demo=True)
    settings_file = paths_for(options).settings_file
    s = load_settings(settings_file)
    s.mqtt_host, s.mqtt_port, s.mqtt_account, s.booth_name = "127.0.0.1", port, ACCOUNT, name
    save_settings(settings_file, s)
    app = MonitorApp(qapp, options, tray_available=False)
    app.start()
    return app


@pytest.fixture
def two_booths(qtbot, qapp, tmp_path: Path, memory_keyring, broker: Broker
               ) -> Iterator[tuple[MonitorApp, MonitorApp]]:
    a = tray_app(qapp, tmp_path / "booth-a", broker.port, "Booth A")
    b = tray_app(qapp, tmp_path / "booth-b", broker.port, "Booth B")
    yield a, b
    for app in (a, b):
        with qtbot.waitSignal(app.thread.finished, timeout=20_000):
            app.quit_without_asking()
        app.dispose()


def row(app: MonitorApp, name: str) -> list[str] | None:
    table = app.window.fleet_page.table
    for r in range(table.rowCount()):
        if table.item(r, 0).text() == name:
            return [table.item(r, c).text() for c in range(table.columnCount())]
    return None


def test_photos_queued_on_a_during_a_broker_outage_show_on_b(two_booths, qtbot,
                                                             broker: Broker):
    a, b = two_booths
    window = b.window
    window.tabs.setCurrentIndex(next(i for i in range(window.tabs.count())
                                     if window.tabs.tabText(i) == "Fleet"))
    qtbot.waitUntil(lambda: (row(b, "Booth A") or ["", "", ""])[2].startswith("$")
                    and row(b, "Booth B") is not None, timeout=30_000)
    qtbot.waitUntil(lambda: a.jobs.last_queue is not None
                    and a.jobs.last_queue.folders is not None, timeout=20_000)

    broker.stop()
    qtbot.waitUntil(lambda: "Not connected" in window.fleet_page.connection.text(),
                    timeout=30_000)
    a._demo.emit("outage", {"mode": "drop", "seconds": 0})  # A's cloud is unreachable too
    qtbot.waitUntil(lambda: a.snapshot is not None and a.snapshot.view().offline,
                    timeout=20_000)
    hot = a.jobs.last_queue.folders.hot  # type: ignore[union-attr]
    for n in range(3):
        (hot / f"guest-{n}.png").write_bytes(make_png(12 + n, 12))
    qtbot.waitUntil(lambda: a.jobs.counts is not None and a.jobs.counts.open == 3,
                    timeout=30_000)

    broker.start()
    qtbot.waitUntil(lambda: (row(b, "Booth A") or [""] * 7)[4] == "3", timeout=60_000)
    got = row(b, "Booth A")
    assert got is not None and got[3] == "OFFLINE" and got[1].startswith("online")
    assert "Connected to mqtt://127.0.0.1" in window.fleet_page.connection.text()
    a._demo.emit("restore", {})
