"""Settings: the cloud and its token, photos and the connection, refund claims, phone alerts.

Four pages, each scrolling on its own, with Save and Cancel outside them: on a 1366 x 768
laptop at 150% the dialog gets about 450 logical pixels of height, less than the fields need.
Fields show real values (the folders in use, feature names); secret fields never show what is
stored, and leaving one empty keeps the one in the keyring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, QTime, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from app.gui.alert_settings import PhoneAlertsPage
from app.gui.fleet_settings import FleetSettings
from app.gui.monitor_worker import Snapshot
from app.gui.screen_fit import place, scrolling

REFUND_CHANNELS = [("to the cloud's refund endpoint", "cloud"), ("by email to support", "email"),
                   ("both", "both")]
# Plain SMTP is not offered here: the claim carries the account email and the job history.
SMTP_SECURITY = [("STARTTLS (port 587)", "starttls"), ("TLS (port 465)", "tls")]
PREFERRED = QSize(580, 560)
MINIMUM = QSize(440, 320)


class SettingsDialog(QDialog):
    # (changed settings fields, {"token", "smtp_password", "mqtt_password"}: secrets typed anew)
    submitted = Signal(object, object)

    def __init__(self, snap: Snapshot, start_at_login: bool | None = None):
        super().__init__()
        self.setWindowTitle("Booth Credit Monitor — Settings")
        s = snap.settings
        self._defaults = {"hot": str(snap.folders.hot), "output": str(snap.folders.output)} \
            if snap.folders is not None else {}
        self.cloud_url = QLineEdit(s.cloud_url)
        self.cloud_url.setPlaceholderText("https://cloud.example.com")
        self.account_email = QLineEdit(s.account_email)
        self.booth_name = QLineEdit(s.booth_name)
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("leave empty to keep the stored token")
        self.low_balance = QDoubleSpinBox()
        self.low_balance.setPrefix("$ ")
        self.low_balance.setRange(0, 100_000)
        self.low_balance.setDecimals(2)
        self.low_balance.setValue(s.low_balance_cents / 100)
        self.interval = QSpinBox()
        self.interval.setRange(15, 3600)
        self.interval.setSuffix(" s")
        self.interval.setValue(s.refresh_interval_seconds)
        self.offline_notice = QSpinBox()
        self.offline_notice.setRange(10, 3600)
        self.offline_notice.setSuffix(" s")
        self.offline_notice.setValue(int(s.offline_notice_seconds))
        self.event_end = QTimeEdit()
        self.event_end.setDisplayFormat("HH:mm")
        ends = QTime.fromString(str(s.event_ends_at), "HH:mm")
        self.event_end.setTime(ends if ends.isValid() else QTime(23, 30))
        self.event_end.setToolTip("The forecast warns when the shared balance runs out before "
                                  "this time at the fleet's pace (the next such time from now; "
                                  "23:30 unless set)")
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
        self.smtp_password.setPlaceholderText("leave empty to keep the stored password")
        self.smtp_from = QLineEdit(s.smtp_from)
        self.hot_folder = QLineEdit(s.hot_folder or self._defaults.get("hot", ""))
        self.output_folder = QLineEdit(s.output_folder or self._defaults.get("output", ""))
        # The cloud's own list as last read (the contract's published one before that).
        features = [(f.label, f.id) for f in snap.state.features]
        self.default_feature = _combo(features, s.default_feature)
        self.folder_features = FolderFeatures(s.folder_features, features)
        self.hold_on_slow_link = QCheckBox("Hold photos while the link is too slow "
                                           "(off: warn and send anyway)")
        self.hold_on_slow_link.setChecked(bool(s.hold_on_slow_link))
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.5, 100)
        self.threshold.setDecimals(1)
        self.threshold.setSuffix(" Mbps")
        self.threshold.setValue(float(s.preflight_threshold_mbps))
        # None: the OS entry could not be read, so the switch is not offered.
        self.start_at_login = QCheckBox("Start when I log in")
        self.start_at_login.setChecked(bool(start_at_login))
        self.start_at_login.setVisible(start_at_login is not None)
        self._start_at_login = start_at_login
        self.secret_note = QLabel(snap.secret_note)
        self.secret_note.setWordWrap(True)
        self.secret_note.setObjectName("secretNote")

        cloud = QFormLayout()
        cloud.addRow("Cloud URL", self.cloud_url)
        cloud.addRow("Account email", self.account_email)
        cloud.addRow("Booth name", self.booth_name)
        cloud.addRow("API token", self.token)
        cloud.addRow("", self.secret_note)
        cloud.addRow("Warn below", self.low_balance)
        cloud.addRow("Refresh every", self.interval)
        cloud.addRow("Tell me when offline for", self.offline_notice)
        cloud.addRow("Event ends at", self.event_end)
        cloud.addRow("", self.start_at_login)
        if snap.demo:
            for field in (self.cloud_url, self.token):
                field.setEnabled(False)
            demo = QLabel("Demo mode: the embedded demo cloud and its token are used.")
            demo.setWordWrap(True)
            cloud.addRow("", demo)
        photos = QFormLayout()
        photos.addRow("Hot folder", self.hot_folder)
        photos.addRow("Results folder", self.output_folder)
        photos.addRow("AI feature", self.default_feature)
        photos.addRow("Per subfolder", self.folder_features)
        photos.addRow("Needed speed", self.threshold)
        photos.addRow("", self.hold_on_slow_link)
        refunds = QFormLayout()
        refunds.addRow("File claims", self.refund_channel)
        refunds.addRow("Support address", self.support_email)
        refunds.addRow("SMTP server", self.smtp_host)
        refunds.addRow("SMTP port", self.smtp_port)
        refunds.addRow("Security", self.smtp_security)
        refunds.addRow("SMTP user", self.smtp_username)
        refunds.addRow("SMTP password", self.smtp_password)
        refunds.addRow("Send as", self.smtp_from)

        self.pages = QTabWidget()
        for title, form in (("Cloud", cloud), ("Photos and connection", photos),
                            ("Refund claims", refunds)):
            self.pages.addTab(_scrolling(form), title)
        self.phone = PhoneAlertsPage(s.alert_routes, snap.alert_targets,
                                     "" if snap.demo else snap.secret_note)
        self.pages.addTab(scrolling(self.phone), "Phone alerts")
        self.fleet = FleetSettings(s)
        self.pages.addTab(_scrolling(self.fleet.form), "Fleet")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.buttons)
        place(self, PREFERRED, MINIMUM)

    def changes(self) -> dict[str, Any]:
        switch = ({} if self._start_at_login is None
                  else {"start_at_login": self.start_at_login.isChecked()})
        return {**switch,
            "cloud_url": self.cloud_url.text().strip().rstrip("/"),
            "account_email": self.account_email.text().strip(),
            "booth_name": self.booth_name.text().strip(),
            "low_balance_cents": round(self.low_balance.value() * 100),
            "refresh_interval_seconds": self.interval.value(),
            "offline_notice_seconds": self.offline_notice.value(),
            "event_ends_at": self.event_end.time().toString("HH:mm"),
            "hot_folder": self._folder(self.hot_folder, "hot"),
            "output_folder": self._folder(self.output_folder, "output"),
            "default_feature": self.default_feature.currentData(),
            "folder_features": self.folder_features.mapping(),
            "hold_on_slow_link": self.hold_on_slow_link.isChecked(),
            "preflight_threshold_mbps": round(self.threshold.value(), 1),
            "refund_channel": self.refund_channel.currentData(),
            "support_email": self.support_email.text().strip(),
            "smtp_host": self.smtp_host.text().strip(),
            "smtp_port": self.smtp_port.value(),
            "smtp_security": self.smtp_security.currentData(),
            "smtp_username": self.smtp_username.text().strip(),
            "smtp_from": self.smtp_from.text().strip(),
            "alert_routes": self.phone.routes_setting(),
            "alert_urls_cleared": self.phone.cleared(),  # not a setting: the worker pops it
            **self.fleet.changes(),
        }

    def _folder(self, field: QLineEdit, name: str) -> str:
        # The default folder is shown as a real path but saved as "" so that it keeps
        # following the data folder (--home, the demo profile).
        text = field.text().strip()
        default = self._defaults.get(name)
        return "" if default and Path(text) == Path(default) else text

    def _save(self) -> None:
        typed = {"token": self.token.text().strip(),
                 "smtp_password": self.smtp_password.text(),
                 "alert_urls": self.phone.typed_urls(),
                 "mqtt_password": self.fleet.password.text()}
        self.submitted.emit(self.changes(), {k: v for k, v in typed.items() if v})
        self.token.clear()
        self.smtp_password.clear()
        self.phone.forget_typed()
        self.fleet.password.clear()
        self.accept()


class FolderFeatures(QWidget):
    """Subfolders of the hot folder with their own AI feature, by feature name."""

    def __init__(self, mapping: dict[str, str], features: list[tuple[str, str]],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._features = features
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Subfolder", "AI feature"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        rows = self.table.verticalHeader().defaultSectionSize()
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height() + 3 * rows
                                  + 4)
        add = QPushButton("Add")
        add.clicked.connect(lambda: self.add_row("", features[0][1]))
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        known = {fid for _, fid in features}
        for folder, feature in sorted(mapping.items()):
            if feature in known:
                self.add_row(folder, feature)

    def add_row(self, folder: str, feature: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(folder))
        self.table.setCellWidget(row, 1, _combo(self._features, feature))

    def mapping(self) -> dict[str, str]:
        out = {}
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            combo = self.table.cellWidget(row, 1)
            folder = item.text().strip().strip("/\\") if item else ""
            if folder and isinstance(combo, QComboBox):
                out[folder] = combo.currentData()
        return out

    def _remove_selected(self) -> None:
        for row in sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True):
            self.table.removeRow(row)


def _scrolling(form: QFormLayout) -> QScrollArea:
    inner = QWidget()
    inner.setLayout(form)
    return scrolling(inner)


def _combo(choices: list[tuple[str, str]], current: str) -> QComboBox:
    box = QComboBox()
    for label, value in choices:
        box.addItem(label, value)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box
