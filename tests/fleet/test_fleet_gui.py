"""The Fleet tab: drawn from a view, and in the tray app against a real broker (another booth's
held photos show in this booth's tab; this booth's own state goes out through its outbox)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app.adapters.system.settings_file import load_settings, save_settings
from app.core.fleet import BoothState, FleetModel, Topics, encode_state
from app.gui.fleet_page import FleetPage
from app.gui.main import MonitorApp
from app.orchestration.fleet_path import FleetStatus
from app.runtime import Options, paths_for, utc_now
from tests.fleet.booths import SimBooth
from tests.fleet.broker import Broker, wait_for

ACCOUNT = "demo_fleet"


def cells(page: FleetPage, row: int) -> list[str]:
    return [page.table.item(row, c).text() for c in range(page.table.columnCount())]


def test_the_tab_draws_rows_balance_and_pace(qtbot):
    page = FleetPage()
    qtbot.addWidget(page)
    now = utc_now()
    model = FleetModel(Topics(ACCOUNT, "me"))
    for booth, held, sent in (("a", 0, now), ("b", 3, now - timedelta(minutes=30))):
        model.receive(f"booth-credit-monitor/{ACCOUNT}/{booth}/state", encode_state(
            BoothState(booth=booth, name=f"Booth {booth.upper()}", seq=1, sent_at=sent,
                       balance_cents=12_000, balance_as_of=sent, link="ok", queued=held,
                       held=held, cents_per_hour=1_200.0)), now)
    model.receive(f"booth-credit-monitor/{ACCOUNT}/b/status", b"offline", now)
    page.show_fleet(model.view(now), FleetStatus(True, "mqtt://broker:1883", True))
    assert page.table.rowCount() == 2
    assert cells(page, 0)[:4] == ["Booth A", "online, just now", "$120.00", "ok"]
    assert cells(page, 1)[1] == "offline, 30 min ago" and cells(page, 1)[5] == "3"
    assert "Shared balance $120.00" in page.balance.text() and "Booth A" in page.balance.text()
    assert page.pace.text().startswith("Fleet pace $12.00/h")
    assert page.connection.text() == "Connected to mqtt://broker:1883."
    page.show_fleet(None, FleetStatus(False))
    assert page.table.rowCount() == 0 and "no MQTT broker" in page.connection.text()


@pytest.fixture
def fleet_monitor(qtbot, qapp, home: Path, memory_keyring, broker: Broker):
    options = Options(home=str(home), demo=True)
    settings_file = paths_for(options).settings_file
    settings = load_settings(settings_file)
    settings.mqtt_host, settings.mqtt_port = "127.0.0.1", broker.port
    settings.mqtt_account, settings.booth_name = ACCOUNT, "Front desk"
    save_settings(settings_file, settings)
    app = MonitorApp(qapp, options, tray_available=False)
    app.start()
    yield app
    with qtbot.waitSignal(app.thread.finished, timeout=15_000):
        app.quit()
    app.dispose()


def test_another_booths_held_photos_show_in_this_booths_fleet_tab(
        fleet_monitor, qtbot, tmp_path: Path, broker: Broker):
    page = fleet_monitor.window.fleet_page
    window = fleet_monitor.window
    # The broker and the store are the fleet worker's, on a thread of its own.
    fleet = fleet_monitor.fleet
    assert fleet.worker.thread() is fleet.thread
    assert fleet.thread is not QApplication.instance().thread()
    other = SimBooth(tmp_path, broker.port, ACCOUNT, "booth-b")
    other.path.start()

    def b_row() -> list[str] | None:
        for r in range(page.table.rowCount()):
            if page.table.item(r, 0).text() == "Booth B":
                return cells(page, r)
        return None

    try:
        wait_for(lambda: other.waiting() == 0, 20, "booth B's first state at the broker")
        # Not looking at the Fleet tab: no booth's state is received, only the small status
        # (so booth B is a row with its topic name and nothing else yet).
        qtbot.waitUntil(lambda: any(page.table.item(r, 0).text() == "booth-b"
                                    for r in range(page.table.rowCount())), timeout=20_000)
        assert not page.isVisible() and b_row() is None
        window.tabs.setCurrentIndex(next(i for i in range(window.tabs.count())
                                         if window.tabs.tabText(i) == "Fleet"))
        # This booth's own row comes from its own store, with the demo cloud's balance.
        qtbot.waitUntil(lambda: any(
            page.table.item(r, 0).text() == "Front desk"
            and page.table.item(r, 2).text().startswith("$")
            for r in range(page.table.rowCount())), timeout=20_000)
        other.change(held=2, queued=5)
        other.path.event("photo_held", "IMG_0042.jpg held: the link is slow")

        qtbot.waitUntil(lambda: (b_row() or [""] * 7)[5] == "2", timeout=10_000)
        assert b_row()[4] == "5"  # type: ignore[index]
        qtbot.waitUntil(lambda: "IMG_0042.jpg held" in page.events.text(), timeout=10_000)
        assert "Connected to mqtt://127.0.0.1" in page.connection.text()
        assert "2 booths, 2 online" in page.summary.text()

        # Renamed in Settings: the booth moves to its new topics and clears its old ones, so
        # no fleet keeps a ghost "Front desk" row.
        fleet_monitor._settings.emit({"booth_name": "Side door"}, {})
        names = lambda: {page.table.item(r, 0).text()  # noqa: E731
                         for r in range(page.table.rowCount())}
        qtbot.waitUntil(lambda: "Side door" in names(), timeout=20_000)
        wait_for(lambda: "Front_desk" not in {r.booth for r in other.path.view().rows}, 20,
                 "the old topics cleared for every booth")
        qtbot.waitUntil(lambda: names() == {"Side door", "Booth B"}, timeout=10_000)
    finally:
        other.close()
