"""Phone alerts in the tray app: a child of the monitor worker, on its thread.

Alerts raised elsewhere (the refund cycle on this thread, the job notices on the job worker's)
arrive through `take`; the monitor's own go through raise_alerts(). Every take is followed by
a delivery, and so is every sync that reached the cloud (the link is back); while alerts wait
for a service that does not answer, one single-shot timer comes back with a growing delay:
no polling, and the GUI thread never waits on a send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.core.alerts import Alert
from app.core.errors import MonitorError
from app.orchestration.alert_path import AlertPath, TestOutcome
from app.orchestration.alert_targets import save_targets
from app.runtime import utc_now

log = logging.getLogger(__name__)

RETRY_SECONDS = (15.0, 30.0, 60.0, 120.0, 300.0)


class AlertWorker(QObject):
    test_done = Signal(object)  # list[TestOutcome]

    def __init__(self, make_path: Callable[[], AlertPath]):
        super().__init__()
        self._make_path = make_path
        self._path: AlertPath | None = None
        self._timer: QTimer | None = None
        self._failures = 0
        self.retry_seconds = RETRY_SECONDS  # tests shorten it

    def path(self) -> AlertPath:
        if self._path is None:
            self._path = self._make_path()
        return self._path

    @Slot(object)
    def take(self, alert: Alert) -> None:
        """A refund or job notice: commit it if it is phone-routed, then send."""
        self.take_all([alert])

    def take_all(self, alerts: Sequence[Alert]) -> None:
        """Commit the phone-routed ones (on this thread, before the caller shows them), then
        send: the account guard's notices come this way."""
        try:
            queued = self.path().take(alerts, utc_now())
        except MonitorError as error:  # a full disk: the tray has shown it all the same
            log.warning("phone alert not queued: %s", error)
            return
        if queued:
            self.deliver()

    def catch_up(self) -> None:
        """After the refund and guard cycles: a settled claim whose phone copy a crash lost."""
        try:
            queued = self.path().catch_up(utc_now())
        except MonitorError as error:
            log.warning("settled claims not checked for the phone: %s", error)
            return
        if {"new", "left"} & set(queued):
            self.deliver()

    @Slot()
    def deliver(self) -> None:
        try:
            report = self.path().deliver(utc_now())
        except MonitorError as error:
            log.warning("phone alerts not relayed: %s", error)
            report = None
        # Nothing waits, or nowhere to send it (no address set): no timer until the next take.
        if report is not None and (not report.waiting or report.no_address):
            self._failures = 0
            return
        delay = self.retry_seconds[min(self._failures, len(self.retry_seconds) - 1)]
        self._failures += 1
        if self._timer is None:
            self._timer = QTimer(self)
            self._timer.setSingleShot(True)
            self._timer.timeout.connect(self.deliver)
        self._timer.start(int(delay * 1000))

    @property
    def retrying(self) -> bool:
        return self._timer is not None and self._timer.isActive()

    def after_sync(self, reached_cloud: bool) -> None:
        """The cloud answered: the link is back, so is the alert service most likely."""
        if reached_cloud and self._path is not None and self._path.pending_count():
            self._failures = 0
            self.deliver()

    @Slot(object)
    def send_test(self, urls: list[str]) -> None:
        try:
            outcomes: list[TestOutcome] = self.path().send_test(urls)
        except MonitorError as error:
            outcomes = [TestOutcome("", False, str(error))]
        self.test_done.emit(outcomes)

    def save_urls(self, urls: list[str] | None) -> str | None:
        """Settings saved new URLs (None: unchanged; []: remove them all)."""
        where = None
        if urls is not None:
            where = save_targets(self.path().runtime, urls)
        self.path().settings_changed()
        return where

    def labels(self, load: bool = True) -> tuple[str, ...]:
        """The stored URLs by label, for Settings; read from the keyring only when `load`."""
        if self._path is None and not load:
            return ()
        return tuple(t.label for t in self.path().targets())

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._path = None
