"""The account guard in the tray app, wired as the app wires it: the worker on its own thread
against a real demo cloud, the Support requests tab, its "Dispute packet…" button, the tray's
trap line and the plan reminders (each once, also after a restart)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QApplication, QLabel

from app.gui.support_view import GuardWorker, SupportView, widget_png
from app.orchestration.guard_path import GuardPath
from tests.guard.conftest import POLICY, scenario


class Wire(QObject):
    """The app's side of the queued connections (the GUI thread)."""

    cycle = Signal()
    packet = Signal(str, object)


@pytest.fixture
def app_side(qtbot, cloud, booths):
    """open() -> (view, worker, booth): a booth's guard on a worker thread, as MonitorApp has it;
    open() again is a restart on the same home."""
    started: list[tuple[QThread, object]] = []

    def open_():
        if started:
            started[-1][1].close()  # the previous run's runtime: a restart
        booth = booths(cloud.url)
        booth.sync()
        thread = QThread()
        worker = GuardWorker(lambda: GuardPath(booth.runtime, policy=POLICY))
        worker.moveToThread(thread)
        thread.start()
        wire = Wire()
        wire.cycle.connect(worker.cycle)
        wire.packet.connect(worker.write_packet)
        view = SupportView()
        view.packet_requested.connect(worker.write_packet)
        worker.loaded.connect(view.show_requests)
        worker.packet_written.connect(view.show_packet_result)
        panel = QLabel("Balance $84.70")  # stands in for the window's balance panel
        view.balance_png = lambda: widget_png(panel)
        qtbot.addWidget(view)
        qtbot.addWidget(panel)
        view._wire = wire  # keep it alive with the view
        started.append((thread, booth))
        return view, worker, booth

    yield open_
    for thread, _booth in started:
        thread.quit()
        thread.wait(5000)


def run_cycle(qtbot, view, worker, booth):
    booth.sync()
    alerts = []
    worker.alert.connect(alerts.append)
    with qtbot.waitSignal(worker.loaded, timeout=15_000) as loaded:
        view._wire.cycle.emit()
    worker.alert.disconnect(alerts.append)
    return alerts, loaded.args


def test_a_lost_purchase_is_told_filed_and_listed(app_side, cloud, qtbot):
    from app.core.trap_line import trap_line
    from app.runtime import utc_now

    view, worker, booth = app_side()
    scenario(cloud, "lost-purchase", amount_cents=5000)
    alerts, (requests, traps, _problems) = run_cycle(qtbot, view, worker, booth)
    assert [a.title for a in alerts] == ["Purchase not credited", "Support asked"]
    assert view.table.rowCount() == 1 and view.table.item(0, 0).text() == "Filed"
    assert view.table.item(0, 1).text() == "Purchase not credited"
    assert view.summary.text() == "1 request to support open, $50.00 at stake."
    line = trap_line(traps, requests, utc_now())
    filed_at = requests[0].filed_at.astimezone().strftime("%H:%M")
    assert line == f"Purchase $50 not credited — support asked {filed_at}"

    # A restart: nothing is told twice, nothing filed twice.
    view, worker, booth = app_side()
    alerts, (requests, _traps, _p) = run_cycle(qtbot, view, worker, booth)
    assert alerts == [] and len(requests) == 1


def test_the_dispute_packet_button_saves_the_packet_and_says_it_was_filed(app_side, cloud,
                                                                          qtbot, tmp_path):
    view, worker, booth = app_side()
    view.ask_folder = lambda parent, start: str(tmp_path)
    with qtbot.waitSignal(worker.packet_written, timeout=10_000) as nothing:
        view.packet_button.click()
    assert nothing.args == [False, "Nothing to dispute: the usage history explains the balance."]

    scenario(cloud, "unexplained-deduction", amount_cents=2000)
    run_cycle(qtbot, view, worker, booth)
    assert worker.thread() is not QApplication.instance().thread()
    with qtbot.waitSignal(worker.packet_written, timeout=10_000) as done:
        view.packet_button.click()
    ok, message = done.args
    (folder,) = tmp_path.glob("dispute-*")
    assert ok and message.startswith("Filed with the cloud at ") and str(folder) in message
    names = {p.name for p in folder.iterdir()}
    assert {"dispute-letter.txt", "usage-entries.csv", "dispute.json", "balance.png"} <= names
    facts = json.loads((folder / "dispute.json").read_text())
    assert facts["expected_cents"] - facts["actual_cents"] == 2000
    assert (folder / "balance.png").read_bytes().startswith(b"\x89PNG")
    qtbot.waitUntil(lambda: view.packet_button.isEnabled())
    assert view.note.text() == message


def test_each_plan_reminder_is_shown_once_even_after_a_restart(app_side, cloud, qtbot,
                                                               monkeypatch):
    view, worker, booth = app_side()
    scenario(cloud, "plan-ending", days=6.5)
    alerts, _ = run_cycle(qtbot, view, worker, booth)
    (reminder,) = alerts
    assert reminder.title == "6 days left"
    assert "$" in reminder.message and "downgrade to Pay-As-You-Go keeps" in reminder.message
    assert run_cycle(qtbot, view, worker, booth)[0] == []  # the next sync: not again

    view, worker, booth = app_side()  # a restart
    assert run_cycle(qtbot, view, worker, booth)[0] == []
    # Three days on, the next step is due: told once.
    from app.orchestration import guard_path
    later = guard_path.utc_now() + timedelta(days=4)
    monkeypatch.setattr(guard_path, "utc_now", lambda: later)
    worker._path = None  # the relay keeps its own clock: a fresh guard at the new time
    alerts, _ = run_cycle(qtbot, view, worker, booth)
    assert [a.title for a in alerts] == ["2 days left"]


def test_every_trap_in_the_demo_menu_is_a_scenario_the_demo_cloud_runs(cloud):
    from app.gui.tray import TRAP_SCENARIOS

    names = [name for _label, name, _payload in TRAP_SCENARIOS]
    assert {"lost-purchase", "coupon-not-activated", "unexplained-deduction", "plan-ending",
            "expire-account", "close-account", "busy-night"} == set(names)
    for _label, name, payload in TRAP_SCENARIOS:
        scenario(cloud, name, **payload)


def test_a_dispute_waits_for_the_balance_panel_then_goes_at_once(cloud, booths, qtbot):
    """In the tray app a dispute holds for the picture of the balance; the app renders it as
    soon as asked, and the dispute is filed right then, with the PNG, not a sync later."""
    booth = booths(cloud.url)
    booth.sync()
    thread = QThread()
    worker = GuardWorker(lambda: GuardPath(booth.runtime, screenshots=True))
    worker.moveToThread(thread)
    thread.start()
    wire = Wire()
    wire.cycle.connect(worker.cycle)
    panel = QLabel("Balance $64.70")
    qtbot.addWidget(panel)

    asked: list[tuple[list[str], bool]] = []

    class Shots(QObject):
        """What MonitorApp does: render on the GUI thread (a QObject's method, so queued)."""

        attach = Signal(object, object)

        def render(self, ids: list[str]) -> None:
            on_gui = QThread.currentThread() is QApplication.instance().thread()
            asked.append((ids, on_gui))
            self.attach.emit(ids, widget_png(panel))
    shots = Shots()
    shots.attach.connect(worker.attach_screenshot)
    worker.wants_screenshot.connect(shots.render)
    try:
        scenario(cloud, "unexplained-deduction", amount_cents=2000)
        booth.sync()
        with qtbot.waitSignal(worker.loaded, timeout=15_000):
            wire.cycle.emit()
        qtbot.waitUntil(lambda: bool(asked), timeout=10_000)
        path = GuardPath(booth.runtime)
        qtbot.waitUntil(lambda: [r.status.value for r in path.requests()] == ["filed"],
                        timeout=15_000)
        (req,) = path.requests()
        assert req.screenshot and req.screenshot.startswith(b"\x89PNG")
        assert [on_gui for _ids, on_gui in asked] == [True]
    finally:
        thread.quit()
        thread.wait(5000)
