"""The refund panel with its worker on another thread, as the tray app will wire them."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication, QFileDialog

from app.core.refunds import ClaimStatus
from app.gui.refunds_view import RefundsView, RefundsWorker
from tests.refunds.conftest import Booth

SHOTS = os.environ.get("BOOTH_MONITOR_SCREENSHOTS")  # a folder: keep the PNG for the docs


@pytest.fixture
def panel(qtbot, cloud, booths):
    booth: Booth = booths(cloud.url)
    booth.run_jobs(6)
    booth.sync()
    thread = QThread()
    worker = RefundsWorker(lambda: booth.refunds)
    worker.moveToThread(thread)
    thread.start()
    view = RefundsView()
    view.reload_requested.connect(worker.reload)
    view.file_now_requested.connect(worker.file_now)
    view.export_requested.connect(worker.export_csv)
    worker.loaded.connect(view.show_claims)
    worker.exported.connect(view.show_export_result)
    qtbot.addWidget(view)
    view.resize(900, 320)
    view.show()
    yield view, worker, booth
    thread.quit()
    thread.wait(5000)


def test_the_panel_lists_claims_and_exports_them_off_the_gui_thread(panel, qtbot, tmp_path,
                                                                    monkeypatch):
    view, worker, booth = panel
    with qtbot.waitSignal(worker.alert, timeout=10_000) as filed:
        view.file_now_requested.emit()  # the "File now" button
    assert filed.args[0].title == "Refund requested"
    qtbot.waitUntil(lambda: view.table.rowCount() == 3, timeout=10_000)
    assert view.summary.text() == "3 failed jobs, $4.50 claimed, $0.00 refunded"
    statuses = {view.table.item(r, 0).text() for r in range(3)}
    assert statuses <= {"Filed", "Under review", "Refunded"}
    assert view.table.item(0, 3).text() == "$1.50" and view.table.item(0, 7).text() == "cloud"
    assert "Usage history entry le_" in view.table.item(0, 0).toolTip()
    # The photo names the guest's picture; the claim id is whole and copyable.
    photos = {view.table.item(r, 1).text() for r in range(3)}
    assert photos == {c.photo for c in booth.refunds.claims()} and "-" not in photos
    ids = {view.table.item(r, 8).text() for r in range(3)}
    assert ids == {c.id for c in booth.refunds.claims()}
    view.table.selectRow(0)
    view.copy_selected_ids()
    assert QApplication.clipboard().text() == view.table.item(0, 8).text()

    target = tmp_path / "claims.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "CSV files (*.csv)")))
    assert worker.thread() is not QApplication.instance().thread()  # the writer's thread
    with qtbot.waitSignal(worker.exported, timeout=10_000) as done:
        view.export_button.click()
    assert done.args[0] is True
    qtbot.waitUntil(lambda: view.note.text().startswith("Exported 3 claims"), timeout=5_000)
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert {r["id"] for r in rows} == {c.id for c in booth.refunds.claims()}
    assert all(r["photo"] and r["charged_at_utc"].endswith("Z") for r in rows)

    if SHOTS:
        view.grab().save(str(Path(SHOTS) / "refunds-window.png"))


def test_a_failed_export_is_said_in_the_panel(panel, qtbot, tmp_path, monkeypatch):
    view, worker, booth = panel
    with qtbot.waitSignal(worker.loaded, timeout=10_000):
        view.file_now_requested.emit()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where a folder should be")
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(blocked / "x.csv"), "")))
    with qtbot.waitSignal(worker.exported, timeout=10_000) as done:
        view.export_button.click()
    assert done.args[0] is False
    qtbot.waitUntil(lambda: view.note.text().startswith("Export failed: Cannot save"),
                    timeout=5_000)
    assert all(c.status is not ClaimStatus.PENDING for c in booth.refunds.claims())
