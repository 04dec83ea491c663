"""Wires the AI job path and the bandwidth check into the tray app.

The job worker gets its own QThread (hashing photos and running the queue must not wait behind a
balance sync that is timing out) but shares the monitor worker's runtime, so one preflight guards
the link for both the tray's "Check connection now" and the checks before each job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QMetaObject, QObject, Qt, QThread, Signal

from app.core.alerts import Alert
from app.core.bandwidth import CancelFlag, PreflightResult, Verdict
from app.core.job_notices import Notice, quit_warning
from app.core.jobs import QueueCounts
from app.gui.job_worker import JobWorker, QueueSnapshot
from app.gui.monitor_worker import MonitorWorker
from app.gui.preflight_worker import PreflightWorker
from app.gui.status_window import StatusWindow
from app.gui.tray import TrayController

log = logging.getLogger(__name__)

# Job notices that mean a fresh bandwidth reading is in the store: redraw the link state.
LINK_NOTICES = ("held", "slow-sent")


class JobsController(QObject):
    _start = Signal()
    _republish = Signal()  # ask the monitor worker for a new snapshot (link state changed)
    _link_ok = Signal(str)  # a check found the link good: held photos may go

    def __init__(self, worker: MonitorWorker, window: StatusWindow, tray: TrayController,
                 on_alert: Callable[[Alert | Notice], None]):
        super().__init__()
        self._worker = worker
        self._window = window
        self._tray = tray
        self._on_alert = on_alert
        self.counts: QueueCounts | None = None
        self.last_queue: QueueSnapshot | None = None

        self.thread = QThread()
        self.thread.setObjectName("job-worker")
        self.jobs = JobWorker(worker.shared_runtime)
        self.jobs.moveToThread(self.thread)
        self._start.connect(self.jobs.start)
        self._link_ok.connect(self.jobs.link_recovered)
        self._republish.connect(worker.publish)
        # This booth's own spending moves the balance: refresh shortly after jobs settle.
        self.jobs.refresh_wanted.connect(worker.refresh_soon)
        self.jobs.link_changed.connect(worker.publish)
        worker.settings_applied.connect(self.jobs.apply_settings)
        self.jobs.snapshot.connect(self._on_queue)
        self.jobs.notice.connect(self._on_notice)
        self.jobs.notice.connect(worker.alerts.take)  # the phone's copy, on its thread
        self.jobs.problem.connect(lambda title, message: on_alert(Alert("", title, message)))
        queue = window.queue_view
        queue.retry_requested.connect(self.jobs.retry)
        queue.remove_requested.connect(self.jobs.remove)
        queue.send_anyway_requested.connect(self.jobs.send_anyway)
        queue.resume_requested.connect(self.jobs.resume)

        self.preflight = PreflightWorker(self._check_link, parent=self)
        self.preflight.finished.connect(self._on_link_result)
        self.preflight.failed.connect(self._on_link_failed)
        self.preflight.cancelled.connect(lambda: self._set_checking(False))
        tray.check_link_requested.connect(self.check_link)
        window.check_link_requested.connect(self.check_link)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Called once the monitor worker is ready (its runtime exists)."""
        self.thread.start()
        self._start.emit()

    def stop(self, then: Callable[[], None]) -> None:
        """Stop the job path (it hands back its leases), then call `then` on the GUI thread."""
        self.preflight.cancel()
        if not self.thread.isRunning():
            then()
            return
        self.thread.finished.connect(then)
        self.jobs.stopped.connect(self.thread.quit)
        QMetaObject.invokeMethod(self.jobs, "stop", Qt.ConnectionType.QueuedConnection)

    def quit_warning(self) -> str | None:
        return quit_warning(self.counts) if self.counts is not None else None

    def network_hint(self) -> None:
        QMetaObject.invokeMethod(self.jobs, "network_hint", Qt.ConnectionType.QueuedConnection)

    def dispose(self) -> None:
        for obj in (self.jobs, self.thread, self.preflight):
            obj.deleteLater()

    # -- the bandwidth check -------------------------------------------------------------------

    def check_link(self) -> None:
        if self.preflight.start():
            self._set_checking(True)

    def _check_link(self, cancel: CancelFlag) -> PreflightResult:
        # Runs on a pool thread. max_age 0: the operator asked for a new reading.
        return self._worker.shared_runtime().preflight().check(0, cancel)

    def _on_link_result(self, result: PreflightResult) -> None:
        self._set_checking(False)
        slow = result.verdict in (Verdict.SLOW, Verdict.OFFLINE)
        self._on_alert(Alert("", "Connection check", result.summary(),
                             "warning" if slow else "info"))
        if result.verdict is Verdict.OK:
            self._link_ok.emit(result.summary())
        self._republish.emit()

    def _on_link_failed(self, message: str) -> None:
        self._set_checking(False)
        self._on_alert(Alert("", "Connection not checked", message))

    def _set_checking(self, checking: bool) -> None:
        self._tray.checking_link = checking
        self._window.set_checking_link(checking)

    # -- the queue ----------------------------------------------------------------------------

    def _on_queue(self, snap: QueueSnapshot) -> None:
        self.counts, self.last_queue = snap.counts, snap
        self._tray.set_queue(snap.counts)
        self._window.queue_view.set_snapshot(snap)
        self._window.set_queue(snap.counts, set(snap.notice_keys))

    def _on_notice(self, notice: Notice) -> None:
        self._on_alert(notice)
        if notice.key.split(":")[0] in LINK_NOTICES:
            self._republish.emit()
