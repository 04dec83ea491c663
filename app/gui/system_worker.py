"""The booth PC's own chores, on the monitor worker's thread: start at login, the diagnostics
zip, and first-run setup (is anything configured, does the typed token work, save it all).

Like the other workers it only calls Qt-free code (app.orchestration.setup_path and
diagnostics, app.adapters.system.autostart) and turns results into signals; the widgets never
touch the registry, the keyring, the disk or the network themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot, qVersion

from app.adapters.system.autostart import Autostart, for_this_system, launch_command
from app.core.errors import MonitorError
from app.orchestration.diagnostics import write_diagnostics
from app.orchestration.job_path import job_folders
from app.orchestration.setup_path import (
    SetupChoices,
    apply_setup,
    check_connection,
    needs_setup,
)
from app.runtime import Runtime

log = logging.getLogger(__name__)


class SystemWorker(QObject):
    autostart_state = Signal(object)  # True / False, or None when it cannot be read
    diagnostics_saved = Signal(bool, str)  # ok, one line for the operator
    connection_tested = Signal(object)  # app.orchestration.setup_path.ConnectionCheck
    setup_needed = Signal(object)  # the folders the setup window proposes: (hot, output)
    setup_done = Signal(bool, str)  # ok, one line
    problem = Signal(str, str)

    def __init__(self, runtime: Callable[[], Runtime], settings_changed: Callable[[], None],
                 autostart: Callable[[], Autostart] = for_this_system):
        super().__init__()
        self._runtime = runtime
        self._settings_changed = settings_changed
        self._autostart = autostart

    @Slot()
    def look(self) -> None:
        """Once the runtime is up: is start at login on, and is there anything to watch?"""
        self._publish_autostart()
        try:
            runtime = self._runtime()
            if needs_setup(runtime):
                folders = job_folders(runtime)
                self.setup_needed.emit((str(folders.hot), str(folders.output)))
        except MonitorError as error:
            log.warning("could not tell whether setup is needed: %s", error)

    @Slot(bool)
    def set_autostart(self, on: bool) -> None:
        entry = self._autostart()
        try:
            if on:
                runtime = self._runtime()
                entry.enable(launch_command(runtime.options.home, runtime.options.demo))
            else:
                entry.disable()
            log.info("start at login %s (%s)", "on" if on else "off", entry.where())
        except MonitorError as error:
            self.problem.emit("Start at login not changed", str(error))
        self._publish_autostart()

    @Slot(str)
    def save_diagnostics(self, path: str) -> None:
        try:
            saved = write_diagnostics(self._runtime(), Path(path), autostart=self._autostart(),
                                      qt_version=qVersion())
        except MonitorError as error:
            self.diagnostics_saved.emit(False, str(error))
            return
        log.info("diagnostics saved to %s", saved.path)
        self.diagnostics_saved.emit(True, saved.line())

    @Slot(str, str)
    def test_connection(self, cloud_url: str, token: str) -> None:
        try:
            runtime = self._runtime()
            insecure_ok = bool(runtime.settings.allow_insecure_http)
            transport_for = runtime.cloud_transport  # paced like every request (issue 14)
        except MonitorError:
            insecure_ok, transport_for = False, None
        self.connection_tested.emit(check_connection(cloud_url, token,
                                                     allow_insecure_http=insecure_ok,
                                                     transport_for=transport_for))

    @Slot(object)
    def apply_setup(self, choices: SetupChoices) -> None:
        try:
            apply_setup(self._runtime(), choices, self._autostart())
        except MonitorError as error:
            self.setup_done.emit(False, str(error))
            return
        self._settings_changed()
        self._publish_autostart()
        self.setup_done.emit(True, "Saved. The monitor is watching the balance now.")

    def _publish_autostart(self) -> None:
        try:
            self.autostart_state.emit(self._autostart().is_enabled())
        except MonitorError as error:
            log.warning("start at login unknown: %s", error)
            self.autostart_state.emit(None)
