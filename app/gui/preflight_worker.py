"""Runs a bandwidth preflight off the GUI thread (QThreadPool) and reports through signals.

A probe takes up to a few seconds and blocks on sockets; the tray must keep answering meanwhile.
One check at a time: asking again while one runs is refused (the caller shows the running one).
cancel() sets the probe's cancel flag; the probe notices within a tenth of a second, closes its
socket and the worker emits `cancelled`. Signals are emitted from the pool thread and delivered
queued to receivers living in the GUI thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.core.bandwidth import CancelFlag, PreflightResult, ProbeCancelled
from app.core.errors import MonitorError

log = logging.getLogger(__name__)

# Given the cancel flag, measure (or reuse) and return a result: e.g.
# `lambda cancel: runtime.preflight().check(max_age, cancel)`.
CheckFn = Callable[[CancelFlag], PreflightResult]


class PreflightWorker(QObject):
    started = Signal()
    finished = Signal(object)  # PreflightResult (an offline verdict is a result, not a failure)
    failed = Signal(str)  # one line for the operator: the check itself could not run
    cancelled = Signal()

    def __init__(self, check: CheckFn, pool: QThreadPool | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._check = check
        self._pool = pool or QThreadPool.globalInstance()
        self._lock = threading.Lock()
        self._cancel: threading.Event | None = None
        self._done = threading.Event()
        self._done.set()

    def is_running(self) -> bool:
        return not self._done.is_set()

    def start(self) -> bool:
        """Start a check; False if one is already running."""
        with self._lock:
            if not self._done.is_set():
                return False
            self._done.clear()
            self._cancel = threading.Event()
            cancel = self._cancel
        self.started.emit()
        self._pool.start(_Task(self, cancel))
        return True

    def cancel(self) -> None:
        with self._lock:
            if self._cancel is not None:
                self._cancel.set()

    def wait(self, timeout: float) -> bool:
        """Block until the running check ended (for quitting); True if it did in time."""
        return self._done.wait(timeout)

    def _run(self, cancel: threading.Event) -> None:
        try:
            result = self._check(cancel)
        except ProbeCancelled:
            self._end(self.cancelled.emit)
        except MonitorError as error:
            message = str(error)
            self._end(lambda: self.failed.emit(message))
        except Exception:  # a bug must not kill the pool thread silently
            log.exception("bandwidth check failed unexpectedly")
            self._end(lambda: self.failed.emit("The connection check failed unexpectedly."))
        else:
            self._end(lambda: self.finished.emit(result))

    def _end(self, emit: Callable[[], None]) -> None:
        # Emit before marking idle: whoever waits for the end to quit must not tear this
        # object down while a signal is still being sent from the pool thread.
        try:
            emit()
        finally:
            self._done.set()


class _Task(QRunnable):
    def __init__(self, worker: PreflightWorker, cancel: threading.Event):
        super().__init__()
        self._worker = worker
        self._cancel = cancel

    def run(self) -> None:
        self._worker._run(self._cancel)
