"""Settings: the cloud and its token, the low-balance threshold, and where refund claims go.
Secret fields never show what is stored; leaving one empty keeps the one in the keyring."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
)

from app.core.model import FEATURE_LABELS, Feature
from app.gui.monitor_worker import Snapshot

REFUND_CHANNELS = [("to the cloud's refund endpoint", "cloud"), ("by email to support", "email"),
                   ("both", "both")]
# Plain SMTP is not offered here: the claim carries the account email and the job history.
SMTP_SECURITY = [("STARTTLS (port 587)", "starttls"), ("TLS (port 465)", "tls")]


class SettingsDialog(QDialog):
    # (changed settings fields, {"token": ..., "smtp_password": ...} for secrets typed anew)
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
        self.refund_channel = _combo(REFUND_CHANNELS, s.refund_channel)
        self.support_email = QLineEdit(s.support_email)
        self.smtp_host = QLineEdit(s.smtp_host)
        self.smtp_port = QSpinBox()
        self.smtp_port.setRange(1, 65535)
        self.smtp_port.setValue(s.smtp_port)
        self.smtp_security = _combo(SMTP_SECURITY, s.smtp_security)
        self.smtp_username = QLineEdit(s.smtp_username)
        self.smtp_password = QLineEdit()
        self.smtp_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.smtp_password.setPlaceholderText("unchanged")
        self.smtp_from = QLineEdit(s.smtp_from)
        self.hot_folder = QLineEdit(s.hot_folder)
        self.hot_folder.setPlaceholderText("the app's data folder/hot-folder")
        self.output_folder = QLineEdit(s.output_folder)
        self.output_folder.setPlaceholderText("the app's data folder/results")
        self.default_feature = _combo([(FEATURE_LABELS[f], f.value) for f in Feature],
                                      s.default_feature)
        self.folder_features = QLineEdit(format_folder_features(s.folder_features))
        self.folder_features.setPlaceholderText("headshots=ai_headshot, sketch=draw_me")
        self.hold_on_slow_link = QCheckBox("Hold photos while the link is too slow "
                                           "(unchecked: warn and send anyway)")
        self.hold_on_slow_link.setChecked(bool(s.hold_on_slow_link))
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.5, 100)
        self.threshold.setDecimals(1)
        self.threshold.setSuffix(" Mbps")
        self.threshold.setValue(float(s.preflight_threshold_mbps))
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
        jobs = QGroupBox("AI jobs and the connection")
        jobs_form = QFormLayout(jobs)
        jobs_form.addRow("Hot folder", self.hot_folder)
        jobs_form.addRow("Results folder", self.output_folder)
        jobs_form.addRow("AI feature", self.default_feature)
        jobs_form.addRow("Per subfolder", self.folder_features)
        jobs_form.addRow("Needed speed", self.threshold)
        jobs_form.addRow("", self.hold_on_slow_link)
        refunds = QGroupBox("Refund claims for charged jobs that failed")
        refund_form = QFormLayout(refunds)
        refund_form.addRow("File claims", self.refund_channel)
        refund_form.addRow("Support address", self.support_email)
        refund_form.addRow("SMTP server", self.smtp_host)
        refund_form.addRow("SMTP port", self.smtp_port)
        refund_form.addRow("Security", self.smtp_security)
        refund_form.addRow("SMTP user", self.smtp_username)
        refund_form.addRow("SMTP password", self.smtp_password)
        refund_form.addRow("Send as", self.smtp_from)
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
        layout.addWidget(jobs)
        layout.addWidget(refunds)
        layout.addWidget(buttons)

    def changes(self) -> dict[str, Any]:
        return {
            "cloud_url": self.cloud_url.text().strip().rstrip("/"),
            "account_email": self.account_email.text().strip(),
            "booth_name": self.booth_name.text().strip(),
            "low_balance_cents": round(self.low_balance.value() * 100),
            "refresh_interval_seconds": self.interval.value(),
            "hot_folder": self.hot_folder.text().strip(),
            "output_folder": self.output_folder.text().strip(),
            "default_feature": self.default_feature.currentData(),
            "folder_features": parse_folder_features(self.folder_features.text()),
            "hold_on_slow_link": self.hold_on_slow_link.isChecked(),
            "preflight_threshold_mbps": round(self.threshold.value(), 1),
            "refund_channel": self.refund_channel.currentData(),
            "support_email": self.support_email.text().strip(),
            "smtp_host": self.smtp_host.text().strip(),
            "smtp_port": self.smtp_port.value(),
            "smtp_security": self.smtp_security.currentData(),
            "smtp_username": self.smtp_username.text().strip(),
            "smtp_from": self.smtp_from.text().strip(),
        }

    def _save(self) -> None:
        typed = {"token": self.token.text().strip(),
                 "smtp_password": self.smtp_password.text()}
        self.submitted.emit(self.changes(), {k: v for k, v in typed.items() if v})
        self.token.clear()
        self.smtp_password.clear()
        self.accept()


def _combo(choices: list[tuple[str, str]], current: str) -> QComboBox:
    box = QComboBox()
    for label, value in choices:
        box.addItem(label, value)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box


def format_folder_features(mapping: dict[str, str]) -> str:
    return ", ".join(f"{folder}={feature}" for folder, feature in sorted(mapping.items()))


def parse_folder_features(text: str) -> dict[str, str]:
    """'headshots=ai_headshot, sketch=draw_me' → {subfolder: feature}; unknown features and
    malformed pairs are dropped (the job path ignores them too)."""
    known = {f.value for f in Feature}
    pairs = (part.split("=", 1) for part in text.replace(";", ",").split(",") if "=" in part)
    return {folder.strip(): feature.strip() for folder, feature in pairs
            if folder.strip() and feature.strip() in known}
