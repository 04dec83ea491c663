"""The tray menu's tools: the About box and "Save diagnostics…".

The diagnostics zip is written by the monitor worker on its own thread (logs, the store's
statistics, the keyring to find the secrets to remove); this side only asks where to save it
and shows how it went.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from app import APP_NAME
from app.adapters.system.paths import AppPaths
from app.core.alerts import Alert
from app.gui.about import AboutDialog


def ask_zip_path(parent: QWidget | None, suggested: Path) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, "Save diagnostics", str(suggested),
                                          "Zip files (*.zip)")
    return path


class ToolsController(QObject):
    save_diagnostics = Signal(str)  # to the worker: write the zip here

    def __init__(self, paths: AppPaths, parent_window: QWidget,
                 on_alert: Callable[[Alert], None]):
        super().__init__()
        self._paths = paths
        self._window = parent_window
        self._on_alert = on_alert
        self.about: AboutDialog | None = None
        self.saving = False
        # Where to save: a file dialog for people; tests and tools replace it.
        self.ask_path: Callable[[QWidget | None, Path], str] = ask_zip_path

    def show_about(self) -> None:
        if self.about is None:
            self.about = AboutDialog(self._paths)
        self.about.show()
        self.about.raise_()

    def suggested_zip(self) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        return Path.home() / f"{APP_NAME}-diagnostics-{stamp}.zip"

    def ask_for_diagnostics(self) -> None:
        if self.saving:
            return
        path = self.ask_path(self._window, self.suggested_zip())
        if path:
            self.saving = True
            self.save_diagnostics.emit(path)

    def diagnostics_done(self, ok: bool, message: str) -> None:
        self.saving = False
        self._on_alert(Alert(key="", title="Diagnostics saved" if ok
                             else "Diagnostics not saved", message=message,
                             severity="info" if ok else "warning"))

    def dispose(self) -> None:
        if self.about is not None:
            self.about.deleteLater()
            self.about = None
        self.deleteLater()
