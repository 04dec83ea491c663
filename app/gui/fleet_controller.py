"""Wires the fleet path into the tray app.

The fleet worker has a QThread of its own and its own Runtime (settings, keyring, store): a
broker that times out must never stall the balance sync or the job queue, and the GUI thread
only sends it queued signals and draws the FleetView it sends back. The MQTT link and the
outbox pump run on the fleet path's own threads (app.orchestration.fleet_path).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QMetaObject, QObject, Qt, QThread, QTimer, Signal, Slot

from app.adapters.system.settings_file import load_settings
from app.core.alerts import Alert
from app.core.errors import MonitorError
from app.core.fleet import event_for_alert
from app.core.forecast import default_event_end
from app.gui.fleet_page import FleetPage
from app.orchestration.fleet_path import FleetPath, FleetStatus, fleet_config, runtime_fleet
from app.runtime import Options, Runtime, utc_now

log = logging.getLogger(__name__)

# Many messages arrive at once on connect (every booth's retained state): draw once per burst.
REDRAW_MS = 250
STATUS_MS = 10_000  # the outbox's waiting count and the link's state, between messages


class FleetWorker(QObject):
    changed = Signal(object, object)  # FleetView | None, FleetStatus
    stopped = Signal()
    _poke = Signal()  # from the link's thread: something changed

    def __init__(self, options: Options):
        super().__init__()
        self._options = options
        self._runtime: Runtime | None = None
        self._fleet: FleetPath | None = None
        self._redraw: QTimer | None = None
        self._status_timer: QTimer | None = None
        self._watch = False

    @Slot()
    def start(self) -> None:
        if self._redraw is None:
            self._redraw = QTimer(self)
            self._redraw.setSingleShot(True)
            self._redraw.setInterval(REDRAW_MS)
            self._redraw.timeout.connect(self._emit)
            self._poke.connect(self._redraw.start)
            self._status_timer = QTimer(self)
            self._status_timer.setInterval(STATUS_MS)
            self._status_timer.timeout.connect(self._emit)
            self._status_timer.start()
        try:
            self._runtime = Runtime(self._options)
            self._fleet = runtime_fleet(self._runtime, on_change=self._poke.emit,
                                        watch=self._watch)
        except Exception as error:  # a bug must not leave the tab silently empty
            if isinstance(error, MonitorError):
                log.warning("fleet view not started: %s", error)
            else:
                log.exception("fleet view not started")
            host = self._runtime.settings.mqtt_host if self._runtime else ""
            self.changed.emit(None, FleetStatus(True, str(host), last_error=str(error)))
            return
        if self._fleet is not None:
            self._fleet.start()
            log.info("fleet view: %s as %s/%s", self._fleet.config.broker.describe(),
                     self._fleet.topics.account, self._fleet.topics.booth)
        self._emit()

    @Slot()
    def restart(self) -> None:
        """Settings changed: the broker, the account or the booth's name may be new. A booth
        that moved to new topics clears its old retained ones, or every fleet would keep a
        ghost row under its old name."""
        old = self._fleet
        new = None
        if old is not None and self._runtime is not None:
            try:
                self._runtime.settings = load_settings(self._runtime.paths.settings_file)
                new = fleet_config(self._runtime)
            except MonitorError as error:
                log.warning("fleet settings not read: %s", error)
        if old is not None and (new is None or new.topics != old.topics
                                or new.broker.host != old.config.broker.host):
            old.retire()
            self._fleet = None
        self._close()
        self.start()

    @Slot()
    def stop(self) -> None:
        if self._status_timer is not None:
            self._status_timer.stop()
        self._close()
        self.stopped.emit()

    @Slot()
    def state_changed(self) -> None:
        if self._fleet is not None:
            self._fleet.state_changed()

    @Slot(bool)
    def watch(self, on: bool) -> None:
        self._watch = on
        if self._fleet is not None:
            self._fleet.watch(on)

    @Slot(str, str, str)
    def alert(self, key: str, title: str, message: str) -> None:
        event = event_for_alert(key, title, message)
        if self._fleet is not None and event is not None:
            self._fleet.event(*event)

    def _close(self) -> None:
        if self._fleet is not None:
            self._fleet.stop()  # says offline, then disconnects (a few ms on a live link)
            self._fleet = None
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None

    def _emit(self) -> None:
        fleet, runtime = self._fleet, self._runtime
        if fleet is None:
            self.changed.emit(None, FleetStatus(False))
            return
        end = None
        if runtime is not None:
            try:
                end = default_event_end(utc_now(), str(runtime.settings.event_ends_at))
            except ValueError:
                end = None
        try:
            self.changed.emit(fleet.view(event_end=end), fleet.status())
        except MonitorError as error:
            log.warning("fleet status not read: %s", error)


class FleetController(QObject):
    _start = Signal()
    _restart = Signal()
    _state = Signal()
    _alert = Signal(str, str, str)
    _watch = Signal(bool)

    def __init__(self, options: Options, page: FleetPage):
        super().__init__()
        self.thread = QThread()
        self.thread.setObjectName("fleet-worker")
        self.worker = FleetWorker(options)
        self.worker.moveToThread(self.thread)
        self._start.connect(self.worker.start)
        self._restart.connect(self.worker.restart)
        self._state.connect(self.worker.state_changed)
        self._alert.connect(self.worker.alert)
        self._watch.connect(self.worker.watch)
        self.worker.changed.connect(page.show_fleet)
        page.watched.connect(self._watch.emit)

    def start(self) -> None:
        self.thread.start()
        self._start.emit()

    def state_changed(self, *_args: object) -> None:
        """Any snapshot of the monitor or the queue: the fleet path decides if it is news."""
        self._state.emit()

    def settings_changed(self) -> None:
        self._restart.emit()

    def alert(self, alert: Alert) -> None:
        if alert.key:
            self._alert.emit(alert.key, alert.title, alert.message)

    def stop(self, then: Callable[[], None]) -> None:
        if not self.thread.isRunning():
            then()
            return
        self.thread.finished.connect(then)
        self.worker.stopped.connect(self.thread.quit)
        QMetaObject.invokeMethod(self.worker, "stop", Qt.ConnectionType.QueuedConnection)

    def dispose(self) -> None:
        for obj in (self.worker, self.thread):
            obj.deleteLater()
