"""Starting the tray app: one instance per data folder, a worker thread, then the tray or window."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QMetaObject,
    QObject,
    Qt,
    QThread,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QDesktopServices
from PySide6.QtNetwork import QNetworkInformation
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QMessageBox,
    QSystemTrayIcon,
    QWidget,
)

from app import APP_NAME, APP_USER_MODEL_ID
from app.adapters.system.windows_shell import set_app_user_model_id
from app.core.account_guard import Trap
from app.core.alert_routing import routes_from_setting, wants_tray
from app.core.alerts import Alert
from app.core.backoff import Backoff
from app.core.support_requests import SupportRequest
from app.gui.assets import app_icon, style_sheet
from app.gui.fleet_controller import FleetController
from app.gui.jobs_controller import JobsController
from app.gui.monitor_worker import MonitorWorker, Snapshot
from app.gui.settings_dialog import SettingsDialog
from app.gui.setup_controller import SetupController
from app.gui.single_instance import (
    hand_over_to_running_copy,
    instance_name,
    listen,
    serve_second_launch,
)
from app.gui.status_window import StatusWindow
from app.gui.summary_dialog import SummaryDialog
from app.gui.tools_menu import ToolsController
from app.gui.tray import TrayController
from app.runtime import Options, paths_for, start_logging

log = logging.getLogger(__name__)

# Benchmarks set this to learn when the UI is really on screen (see benchmarks/footprint.py).
READY_FILE_ENV = "BOOTH_MONITOR_READY_FILE"
STOP_GRACE_MS = 5_000
TRAY_CHECK_MS, TRAY_CHECKS = 2_000, 30


class MonitorApp(QObject):
    """Wires the worker thread to the tray, the window and the dialogs."""

    _start_worker = Signal()
    _refresh = Signal()
    _settings = Signal(object, object)
    _demo = Signal(str, object)
    _network_hint = Signal()
    _summarize = Signal(object)
    _export_summary = Signal(str, object)
    _geometry = Signal(object)
    _screenshot = Signal(object, object)  # request ids, PNG of the balance panel

    def __init__(self, app: QApplication, options: Options, *, tray_available: bool,
                 backoff: Backoff | None = None):
        super().__init__()
        self.app = app
        self.options = options
        self.snapshot: Snapshot | None = None
        self.tray_available = tray_available
        self._dialog: SettingsDialog | None = None
        self._summary_dialog: SummaryDialog | None = None
        app.setStyleSheet(style_sheet())
        app.setWindowIcon(app_icon())

        self.thread = QThread()
        self.thread.setObjectName("monitor-worker")
        self.worker = MonitorWorker(options, backoff)
        self.worker.moveToThread(self.thread)
        self._start_worker.connect(self.worker.start)
        self._refresh.connect(self.worker.refresh_now)
        self._settings.connect(self.worker.apply_settings)
        self._demo.connect(self.worker.demo_scenario)
        self._network_hint.connect(self.worker.network_changed)
        self._summarize.connect(self.worker.summarize)
        self._export_summary.connect(self.worker.export_summary)
        self._geometry.connect(self.worker.save_window_geometry)
        self.worker.snapshot.connect(self._on_snapshot)
        self.worker.alert.connect(self._on_alert)
        self.worker.problem.connect(self._on_problem)
        self.worker.stopped.connect(self.thread.quit)
        self.thread.finished.connect(self.app.quit)

        self.window = StatusWindow()
        self.window.refresh_requested.connect(self._refresh.emit)
        self.window.settings_requested.connect(self.open_settings)
        self.window.dashboard_requested.connect(self.open_dashboard)
        self.window.summary_requested.connect(self.show_event_summary)
        self.window.geometry_changed.connect(self._geometry.emit)
        refunds = self.worker.refunds
        refunds.loaded.connect(self.window.refunds_view.show_claims)
        refunds.alert.connect(self._on_alert)
        refunds.exported.connect(self.window.refunds_view.show_export_result)
        self.window.refunds_view.reload_requested.connect(refunds.reload)
        self.window.refunds_view.file_now_requested.connect(refunds.file_now)
        self.window.refunds_view.export_requested.connect(refunds.export_csv)
        self._wire_guard()
        self.tray = TrayController(self)
        self.tray.refresh_requested.connect(self._refresh.emit)
        self.tray.show_window_requested.connect(self.show_window)
        self.tray.settings_requested.connect(self.open_settings)
        self.tray.dashboard_requested.connect(self.open_dashboard)
        self.tray.demo_requested.connect(self._demo.emit)
        self.tray.quit_requested.connect(self.quit)
        self.tray.summary_requested.connect(self.show_event_summary)
        self.jobs = JobsController(self.worker, self.window, self.tray, self._on_alert)
        self.worker.ready.connect(self.jobs.start)
        # The fleet view (issue 13): this booth's state out, every booth's in, own thread.
        self.fleet = FleetController(options, self.window.fleet_page)
        self.worker.snapshot.connect(self.fleet.state_changed)
        self.jobs.jobs.snapshot.connect(self.fleet.state_changed)
        self.worker.settings_applied.connect(self.fleet.settings_changed)
        self.worker.ready.connect(self.fleet.start)
        system = self.worker.system
        self.tools = ToolsController(paths_for(options), self.window, self._on_alert)
        self.tray.about_requested.connect(self.tools.show_about)
        self.tray.diagnostics_requested.connect(self.tools.ask_for_diagnostics)
        self.tools.save_diagnostics.connect(system.save_diagnostics)
        system.diagnostics_saved.connect(self.tools.diagnostics_done)
        system.problem.connect(self._on_problem)
        self.autostart_on: bool | None = None  # as the OS has it, read by the worker
        system.autostart_state.connect(lambda on: setattr(self, "autostart_on", on))
        self.setup = SetupController(system, self.restart_in_demo)
        # Set when the app should start again with other options once it has quit (the
        # first-run window's "Try the demo instead"); run_gui does the restart.
        self.restart_with: Options | None = None
        self.disposed = False
        self.stopping = False
        # Asked before quitting while photos are still queued; tests replace it.
        self.confirm_quit: Callable[[str], bool] = self._ask_quit
        if not tray_available:
            # No tray (some Linux desktops, kiosk shells): the window is the app, closing quits.
            self.window.closed.connect(self.quit)

    def _wire_guard(self) -> None:
        """The account guard's worker to the Support requests tab, the tray and the alerts."""
        guard, view = self.worker.guard, self.window.support_view
        guard.loaded.connect(view.show_requests)
        guard.loaded.connect(self._on_guard)
        guard.alert.connect(self._on_alert)
        guard.packet_written.connect(view.show_packet_result)
        view.file_now_requested.connect(guard.file_now)
        view.packet_requested.connect(guard.write_packet)
        self._screenshot.connect(guard.attach_screenshot)
        # A method of this GUI-thread object, not a lambda: the grab must run on this thread.
        guard.wants_screenshot.connect(self._screenshot_for_guard)

    def _screenshot_for_guard(self, request_ids: list[str]) -> None:
        self._screenshot.emit(request_ids, self.window.support_view.balance_png())

    def _on_guard(self, requests: list[SupportRequest], traps: list[Trap],
                  _problems: list[Alert]) -> None:
        # A trap's alert is listed while the trap lasts and dropped once it is gone.
        self.window.alerts.set_active("guard", {f"trap:{t.key}" for t in traps})

    def start(self) -> None:
        self.thread.start()
        self._start_worker.emit()
        if self.tray_available:
            self.tray.show()
        else:
            self.show_window()
            self._wait_for_tray()
        self._watch_network()
        log.info("ui shown (%s)", "tray" if self.tray_available else "window")
        _mark_ready()

    def _wait_for_tray(self) -> None:
        """Autostarted at login, the app can start before the desktop's tray exists. Look for
        it a few times (slowly, for one minute) and move into it once it appears."""
        checks = {"left": TRAY_CHECKS}

        def check() -> None:
            checks["left"] -= 1
            if QSystemTrayIcon.isSystemTrayAvailable():
                self.tray_available = True
                self.tray.show()
                timer.stop()
                log.info("system tray appeared; tray icon shown")
            elif checks["left"] <= 0:
                timer.stop()

        timer = QTimer(self)
        timer.setInterval(TRAY_CHECK_MS)
        timer.timeout.connect(check)
        timer.start()

    def show_window(self) -> None:
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()

    def open_settings(self) -> None:
        if self.snapshot is None:
            return
        self._dialog = SettingsDialog(self.snapshot, start_at_login=self.autostart_on)
        self._dialog.submitted.connect(self._settings.emit)
        # "Send a test alert" runs on the worker's thread (a queued connection) and answers here.
        self._dialog.phone.test_requested.connect(self.worker.alerts.send_test)
        self.worker.alerts.test_done.connect(self._dialog.phone.show_test_result)
        self._dialog.show()

    def open_dashboard(self) -> None:
        view = self.snapshot.view() if self.snapshot else None
        url = ((view.account.dashboard_url if view and view.account else None)
               or (self.snapshot.settings.dashboard_url if self.snapshot else "")
               or (view.cloud_url if view else ""))
        if url.startswith(("http://", "https://")):
            QDesktopServices.openUrl(QUrl(url))

    def quit(self) -> None:
        warning = self.jobs.quit_warning()
        if warning and not self.confirm_quit(warning):
            return
        self.quit_without_asking()

    def quit_without_asking(self) -> None:
        """The installer's and the `quit` command's way out: nobody is at the PC to answer, and
        the queue is on disk, so it is handed back as the menu's Quit would."""
        if self.stopping:
            return
        self.stopping = True
        # The job path hands back its jobs first, then the monitor worker closes the store and
        # the demo cloud on its own thread; the app quits when that thread finishes, or after a
        # grace period if a network call is still hanging.
        self.jobs.stop(then=lambda: self.fleet.stop(then=self._stop_monitor))
        QTimer.singleShot(STOP_GRACE_MS, self.app.quit)

    def restart_in_demo(self) -> None:
        self.restart_with = replace(self.options, demo=True)
        self.quit()

    def show_event_summary(self) -> None:
        """The summary window; its figures are read by the worker, off this thread."""
        if self._summary_dialog is None:
            dialog = SummaryDialog()
            dialog.requested.connect(self._summarize.emit)
            dialog.export_requested.connect(self._export_summary.emit)
            self.worker.summary_ready.connect(dialog.show_summary)
            self.worker.summary_exported.connect(dialog.show_export_result)
            self._summary_dialog = dialog
        self._summary_dialog.reload()
        self._summary_dialog.show()
        self._summary_dialog.raise_()

    def _stop_monitor(self) -> None:
        QMetaObject.invokeMethod(self.worker, "stop", Qt.ConnectionType.QueuedConnection)

    def _ask_quit(self, warning: str) -> bool:
        queued = self.jobs.counts.open if self.jobs.counts is not None else 0
        box, quit_button = quit_question(self.window, warning, queued)
        box.exec()
        return box.clickedButton() is quit_button

    def dispose(self) -> None:
        """Delete every widget and Qt object now, after the worker thread has finished.

        Left to Python's garbage collector, PySide6 objects can outlive the QApplication and
        crash the interpreter at exit (Dangerzone hit this too); explicit lifetimes avoid it."""
        if self.disposed:
            return
        self.disposed = True
        self.tray.icon.hide()
        self.jobs.dispose()
        self.fleet.dispose()
        self.tools.dispose()
        self.setup.dispose()
        for obj in (self._dialog, self._summary_dialog, self.window, self.tray.menu, self.tray,
                    self.worker, self.thread):
            if obj is not None:
                obj.deleteLater()
        self._dialog = self._summary_dialog = None
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

    def _on_snapshot(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.tray.set_snapshot(snap)
        self.window.set_snapshot(snap)

    def _on_alert(self, alert: Alert) -> None:
        self.window.show_alert(alert)
        self.fleet.alert(alert)
        # Settings → Phone alerts can route a kind to the phone only, or below a severity nowhere.
        routes = routes_from_setting(self.snapshot.settings.alert_routes if self.snapshot else {})
        if self.tray_available and wants_tray(alert, routes):
            self.tray.notify(alert)

    def _on_problem(self, title: str, message: str) -> None:
        self._on_alert(Alert(key="", title=title, message=message, severity="warning"))

    def _watch_network(self) -> None:
        # Only a hint to look sooner: the worker's own request decides whether we are online.
        if QNetworkInformation.loadBackendByFeatures(QNetworkInformation.Feature.Reachability):
            info = QNetworkInformation.instance()
            info.reachabilityChanged.connect(lambda _r: self._network_hint.emit())
            info.reachabilityChanged.connect(lambda _r: self.jobs.network_hint())


def quit_question(parent: QWidget, warning: str, queued: int
                  ) -> tuple[QMessageBox, QAbstractButton]:
    """A question with its consequences on the buttons, not Yes/No; keeping on is the
    default, since a stray Enter must not stop the queue mid-event."""
    box = QMessageBox(QMessageBox.Icon.Question, "Quit Booth Credit Monitor?",
                      f"Quit the monitor now? {warning}", parent=parent)
    quit_button = box.addButton(f"Quit, keep {queued} photo{'s' if queued != 1 else ''} queued",
                                QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(box.addButton("Keep running", QMessageBox.ButtonRole.RejectRole))
    return box, quit_button


def _mark_ready() -> None:
    target = os.environ.get(READY_FILE_ENV)
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(f"{time.time()}\n")


def no_display_reason() -> str | None:
    """On Linux without X11 or Wayland Qt aborts with a plugin error nobody can act on."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no desktop session found (DISPLAY and WAYLAND_DISPLAY are unset): start it from "
            "the desktop, or use the command line (status, refresh, queue, refunds); "
            "QT_QPA_PLATFORM=offscreen runs it headless")


def run_gui(options: Options) -> int:
    reason = no_display_reason()
    if reason:
        print(f"{APP_NAME}: {reason}", file=sys.stderr)
        return 1
    start_logging(options)
    # Before the first window: Windows then names the taskbar button and the notifications
    # after the app (and groups them with the installer's Start-menu shortcut), not "Python".
    set_app_user_model_id(APP_USER_MODEL_ID)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setQuitOnLastWindowClosed(False)
    next_options: Options | None = options
    status = 0
    while next_options is not None:  # again only after "Try the demo instead"
        status, next_options = _run_once(app, next_options)
    return status


def _run_once(app: QApplication, options: Options) -> tuple[int, Options | None]:
    name = instance_name(options)
    if hand_over_to_running_copy(name):
        print(f"{APP_NAME} is already running; brought it to the front.")
        return 0, None
    server = listen(name)
    monitor = MonitorApp(app, options, tray_available=QSystemTrayIcon.isSystemTrayAvailable())
    server.newConnection.connect(
        lambda: serve_second_launch(server, monitor.show_window, monitor.quit_without_asking))
    monitor.start()
    status = app.exec()
    restart = monitor.restart_with
    monitor.dispose()
    server.close()
    server.deleteLater()
    return status, restart
