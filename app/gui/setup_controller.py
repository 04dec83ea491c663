"""Shows the first-run window when the worker finds nothing to watch, and carries its requests
to the worker (Test connection, Save) and the answers back. "Try the demo instead" is handed
to the app, which restarts itself on the demo cloud."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.gui.first_run import FirstRunDialog
from app.gui.system_worker import SystemWorker


class SetupController(QObject):
    _test = Signal(str, str)
    _save = Signal(object)

    def __init__(self, system: SystemWorker, on_demo: Callable[[], None]):
        super().__init__()
        self._on_demo = on_demo
        self.dialog: FirstRunDialog | None = None
        self.autostart_supported = True
        self._test.connect(system.test_connection)
        self._save.connect(system.apply_setup)
        system.setup_needed.connect(self.show)
        system.connection_tested.connect(self._tested)
        system.setup_done.connect(self._saved)
        system.autostart_state.connect(
            lambda state: setattr(self, "autostart_supported", state is not None))

    def show(self, folders: tuple[str, str] = ("", "")) -> None:
        if self.dialog is None:
            hot, output = folders
            dialog = FirstRunDialog(hot, output, autostart_supported=self.autostart_supported)
            dialog.test_requested.connect(self._test.emit)
            dialog.save_requested.connect(self._save.emit)
            dialog.demo_requested.connect(self._demo)
            self.dialog = dialog
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()

    def _tested(self, check: object) -> None:
        if self.dialog is not None:
            self.dialog.show_check(check)  # type: ignore[arg-type]

    def _saved(self, ok: bool, message: str) -> None:
        if self.dialog is not None:
            self.dialog.show_saved(ok, message)

    def _demo(self) -> None:
        if self.dialog is not None:
            self.dialog.hide()
        self._on_demo()

    def dispose(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None
        self.deleteLater()
