"""Settings: cloud URL, account email, API token, low-balance threshold. The token field never
shows the stored token; leaving it empty keeps the one in the keyring."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
)

from app.gui.monitor_worker import Snapshot


class SettingsDialog(QDialog):
    # (changed settings fields, new token or None)
    submitted = Signal(object, object)

    def __init__(self, snap: Snapshot):
        super().__init__()
        self.setWindowTitle("Booth Credit Monitor — Settings")
        s = snap.settings
        self.cloud_url = QLineEdit(s.cloud_url)
        self.cloud_url.setPlaceholderText("https://cloud.example.com")
        self.account_email = QLineEdit(s.account_email)
        self.booth_name = QLineEdit(s.booth_name)
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("unchanged (leave empty to keep the stored token)")
        self.low_balance = QDoubleSpinBox()
        self.low_balance.setPrefix("$ ")
        self.low_balance.setRange(0, 100_000)
        self.low_balance.setDecimals(2)
        self.low_balance.setValue(s.low_balance_cents / 100)
        self.interval = QSpinBox()
        self.interval.setRange(15, 3600)
        self.interval.setSuffix(" s")
        self.interval.setValue(s.refresh_interval_seconds)
        self.secret_note = QLabel(snap.secret_note)
        self.secret_note.setWordWrap(True)
        self.secret_note.setObjectName("secretNote")

        form = QFormLayout()
        form.addRow("Cloud URL", self.cloud_url)
        form.addRow("Account email", self.account_email)
        form.addRow("Booth name", self.booth_name)
        form.addRow("API token", self.token)
        form.addRow("", self.secret_note)
        form.addRow("Warn below", self.low_balance)
        form.addRow("Refresh every", self.interval)
        if snap.demo:
            for field in (self.cloud_url, self.token):
                field.setEnabled(False)
            form.addRow("", QLabel("Demo mode: the embedded demo cloud and its token are used."))

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def changes(self) -> dict[str, Any]:
        return {
            "cloud_url": self.cloud_url.text().strip().rstrip("/"),
            "account_email": self.account_email.text().strip(),
            "booth_name": self.booth_name.text().strip(),
            "low_balance_cents": round(self.low_balance.value() * 100),
            "refresh_interval_seconds": self.interval.value(),
        }

    def _save(self) -> None:
        token = self.token.text().strip() or None
        self.submitted.emit(self.changes(), token)
        self.token.clear()
        self.accept()
