"""The tray app's relay timer: while the alert service is down it comes back by itself (a
single-shot timer, no polling), and stops once nothing waits; a URL Apprise cannot understand
never holds the others back."""

from __future__ import annotations

from app.core.alerts import Alert
from app.gui.alert_worker import AlertWorker
from app.orchestration.alert_path import AlertPath
from app.orchestration.alert_targets import save_targets
from app.runtime import utc_now

PAID = Alert("refund-refunded:c1", "Credits refunded", "$1.50 is back.", "info")


def test_the_worker_retries_until_the_service_is_back_then_stops(qtbot, path, receiver):
    worker = AlertWorker(lambda: path)
    worker.retry_seconds = (0.2, 0.4)
    receiver.stop()
    worker.take(PAID)
    assert worker.retrying and receiver.received == []
    receiver.start()
    qtbot.waitUntil(lambda: len(receiver.received) == 1, timeout=10_000)
    qtbot.waitUntil(lambda: not worker.retrying, timeout=5_000)
    assert receiver.titles() == ["Booth A: Credits refunded"]
    worker.stop()


def test_without_an_address_nothing_is_queued_and_no_timer_runs(qtbot, runtime):
    worker = AlertWorker(lambda: AlertPath(runtime))
    worker.take(PAID)
    assert not worker.retrying and worker.path().recent() == []


def test_an_address_apprise_does_not_understand_holds_no_one_back(runtime, receiver):
    save_targets(runtime, ["nosuch://whatever", receiver.url])
    path = AlertPath(runtime)
    path.take([PAID], utc_now())
    report = path.deliver(utc_now())
    assert len(report.sent) == 1 and report.waiting == 0
    assert receiver.titles() == ["Booth A: Credits refunded"]
    assert "not one Apprise understands" in report.problems["nosuch address 1"]
