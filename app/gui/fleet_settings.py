"""The Fleet page of Settings: the MQTT broker every booth of the account shares.

The password field never shows what is stored; empty keeps the one in the keyring.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QFormLayout, QLabel, QLineEdit, QSpinBox

from app.adapters.system.settings_file import Settings


class FleetSettings:
    def __init__(self, s: Settings):
        self.host = QLineEdit(str(s.mqtt_host))
        self.host.setPlaceholderText("broker.example.com (empty: fleet view off)")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(int(s.mqtt_port))
        self.tls = QCheckBox("TLS (the broker's certificate and name are verified)")
        self.tls.setChecked(bool(s.mqtt_tls))
        self.ca_file = QLineEdit(str(s.mqtt_ca_file))
        self.ca_file.setPlaceholderText("extra CA file (empty: the system's)")
        self.username = QLineEdit(str(s.mqtt_username))
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("leave empty to keep the stored password")
        self.account = QLineEdit(str(s.mqtt_account))
        self.account.setPlaceholderText("empty: the account email")
        self.home_assistant = QCheckBox("Home Assistant discovery (this booth's sensors)")
        self.home_assistant.setChecked(bool(s.mqtt_home_assistant))
        note = QLabel("Every booth of the account uses the same broker and account; each "
                      "reads only its own account's topics. See docs/fleet.md.")
        note.setWordWrap(True)
        self.form = QFormLayout()
        self.form.addRow("Broker", self.host)
        self.form.addRow("Port", self.port)
        self.form.addRow("", self.tls)
        self.form.addRow("CA file", self.ca_file)
        self.form.addRow("User", self.username)
        self.form.addRow("Password", self.password)
        self.form.addRow("Fleet account", self.account)
        self.form.addRow("", self.home_assistant)
        self.form.addRow("", note)

    def changes(self) -> dict[str, Any]:
        return {"mqtt_host": self.host.text().strip(), "mqtt_port": self.port.value(),
                "mqtt_tls": self.tls.isChecked(), "mqtt_ca_file": self.ca_file.text().strip(),
                "mqtt_username": self.username.text().strip(),
                "mqtt_account": self.account.text().strip(),
                "mqtt_home_assistant": self.home_assistant.isChecked()}
