"""First-run setup: shown instead of an empty tray when no cloud or token is configured.

Five answers (cloud URL, account email, API token, hot folder, results folder) and a switch for
start at login, on by default. "Test connection" asks the cloud for the balance through the
worker thread and shows it here; "Try the demo instead" restarts the app on the demo cloud.
The token field never shows what is stored and is cleared once the answers are handed over.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import APP_DISPLAY_NAME
from app.gui.assets import app_icon
from app.gui.screen_fit import place, scrolling
from app.orchestration.setup_path import ConnectionCheck, SetupChoices

PREFERRED = QSize(560, 500)
MINIMUM = QSize(420, 320)


class FirstRunDialog(QDialog):
    test_requested = Signal(str, str)  # cloud URL, token
    save_requested = Signal(object)  # SetupChoices
    demo_requested = Signal()

    def __init__(self, hot_folder: str = "", output_folder: str = "", cloud_url: str = "",
                 account_email: str = "", autostart_supported: bool = True):
        super().__init__()
        self.setWindowTitle(f"{APP_DISPLAY_NAME} — set up this booth")
        self.setWindowIcon(app_icon())
        self.intro = QLabel(
            "The monitor watches your account's prepaid AI credits. Enter the cloud's address "
            "and the API token from its dashboard; the token is kept in this computer's "
            "keyring, never in a file.")
        self.intro.setWordWrap(True)
        self.cloud_url = QLineEdit(cloud_url)
        self.cloud_url.setPlaceholderText("https://cloud.example.com")
        self.account_email = QLineEdit(account_email)
        self.account_email.setPlaceholderText("the account's email, for refund claims")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("API token")
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self._test)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setObjectName("setupResult")
        self.hot_folder = QLineEdit(hot_folder)
        self.output_folder = QLineEdit(output_folder)
        self.start_at_login = QCheckBox("Start when I log in")
        self.start_at_login.setChecked(autostart_supported)
        self.start_at_login.setEnabled(autostart_supported)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.result, 1)
        form = QFormLayout()
        form.addRow(self.intro)
        form.addRow("Cloud URL", self.cloud_url)
        form.addRow("Account email", self.account_email)
        form.addRow("API token", self.token)
        form.addRow("", _wrap(test_row))
        form.addRow("Hot folder", self.hot_folder)
        form.addRow("Results folder", self.output_folder)
        form.addRow("", self.start_at_login)
        page = QWidget()
        page.setLayout(form)

        self.buttons = QDialogButtonBox()
        self.save_button = self.buttons.addButton("Save and start",
                                                  QDialogButtonBox.ButtonRole.AcceptRole)
        self.demo_button = self.buttons.addButton("Try the demo instead",
                                                  QDialogButtonBox.ButtonRole.ResetRole)
        self.later_button = self.buttons.addButton("Later",
                                                   QDialogButtonBox.ButtonRole.RejectRole)
        self.save_button.clicked.connect(self._save)
        self.demo_button.clicked.connect(self.demo_requested.emit)
        self.later_button.clicked.connect(self.reject)
        self.save_button.setDefault(True)
        layout = QVBoxLayout(self)
        layout.addWidget(scrolling(page), 1)
        layout.addWidget(self.buttons)
        place(self, PREFERRED, MINIMUM)
        self.saving = False

    # -- from the worker -----------------------------------------------------------------------

    def show_check(self, check: ConnectionCheck) -> None:
        self.test_button.setEnabled(True)
        self.result.setText(check.text)
        self.result.setProperty("ok", check.ok)
        if check.ok and check.account_email and not self.account_email.text().strip():
            self.account_email.setText(check.account_email)

    def show_saved(self, ok: bool, message: str) -> None:
        self.saving = False
        self._enable(True)
        if ok:
            self.token.clear()
            self.accept()
        else:
            self.result.setText(f"Not saved: {message}")

    # -- what the operator does ----------------------------------------------------------------

    def _test(self) -> None:
        self.test_button.setEnabled(False)
        self.result.setText("Asking the cloud…")
        self.test_requested.emit(self.cloud_url.text().strip(), self.token.text().strip())

    def _save(self) -> None:
        missing = [name for name, field in (("the cloud URL", self.cloud_url),
                                            ("the API token", self.token))
                   if not field.text().strip()]
        if missing:
            self.result.setText(f"Enter {' and '.join(missing)} first.")
            return
        self.saving = True
        self._enable(False)
        self.result.setText("Saving…")
        self.save_requested.emit(SetupChoices(
            cloud_url=self.cloud_url.text().strip(),
            account_email=self.account_email.text().strip(),
            token=self.token.text().strip(),
            hot_folder=self.hot_folder.text().strip(),
            output_folder=self.output_folder.text().strip(),
            start_at_login=self.start_at_login.isChecked()))

    def _enable(self, on: bool) -> None:
        for widget in (self.save_button, self.demo_button, self.test_button):
            widget.setEnabled(on)


def _wrap(layout: QHBoxLayout) -> QWidget:
    holder = QWidget()
    layout.setContentsMargins(0, 0, 0, 0)
    holder.setLayout(layout)
    return holder
