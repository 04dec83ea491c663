"""The About box: what is running (versions of the app, Python, Qt and the OS) and where its
files are, which is what a person helping an operator on the phone asks first."""

from __future__ import annotations

import html
import platform
import sys

import PySide6
from PySide6.QtCore import QSize, Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout

from app import APP_DISPLAY_NAME, APP_NAME, __version__
from app.adapters.system.paths import AppPaths
from app.gui.assets import app_icon
from app.gui.screen_fit import place

PREFERRED = QSize(520, 340)
MINIMUM = QSize(360, 240)


def version_lines() -> list[tuple[str, str]]:
    frozen = " (installed build)" if getattr(sys, "frozen", False) else ""
    return [
        ("Version", f"{__version__}{frozen}"),
        ("Python", platform.python_version()),
        ("Qt", f"{qVersion()} (PySide6 {PySide6.__version__})"),
        ("System", platform.platform(terse=True)),
    ]


class AboutDialog(QDialog):
    def __init__(self, paths: AppPaths | None = None):
        super().__init__()
        self.setWindowTitle(f"About {APP_DISPLAY_NAME}")
        self.setWindowIcon(app_icon())
        rows = version_lines()
        if paths is not None:
            rows += [("Settings", str(paths.config_dir)), ("Data", str(paths.data_dir)),
                     ("Logs", str(paths.log_dir))]
        table = "".join(f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;</td>"
                        f"<td>{html.escape(v)}</td></tr>" for k, v in rows)
        self.text = QLabel(
            f"<h3>{APP_DISPLAY_NAME} {__version__}</h3>"
            "<p>Watches the photo booth's prepaid AI credits: a balance that says how old it "
            "is, a bandwidth check before AI jobs, a durable job queue and refund claims.</p>"
            f"<table>{table}</table>"
            f"<p>Command line: <code>{APP_NAME} --help</code></p>")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(64, 64))
        logo.setAlignment(Qt.AlignmentFlag.AlignTop)
        body = QHBoxLayout()
        body.addWidget(logo)
        body.addWidget(self.text, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(self.buttons)
        place(self, PREFERRED, MINIMUM)

    def plain_text(self) -> str:
        return self.text.text()
