"""Settings → Phone alerts: the Apprise URLs (masked), where each kind of alert goes, and a
"Send a test alert" button whose send runs on the monitor worker's thread.

The URLs are secrets: the page never shows the stored ones (only their kinds, "ntfy address
1"), and leaving the field empty keeps them, as with the API token.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.alert_routing import KINDS, Route, routes_from_setting, routes_to_setting
from app.orchestration.alert_path import TestOutcome
from app.orchestration.alert_targets import split_urls

DESTINATIONS = [("Tray and phone", "both"), ("Tray only", "tray"), ("Phone only", "phone"),
                ("Nowhere", "off")]
SEVERITIES = [("Any", "info"), ("Warning", "warning"), ("Critical", "critical")]
EXAMPLES = ("ntfy://my-booth-topic (ntfy app)", "pover://user-key@app-token (Pushover)",
            "tgram://bot-token/chat-id (Telegram)", "mailtos://user:app-password@gmail.com",
            "json://host/path (any webhook)")


class PhoneAlertsPage(QWidget):
    test_requested = Signal(object)  # list[str]: the URLs typed, or [] for the stored ones

    def __init__(self, routes: dict[str, Any], stored: tuple[str, ...], secret_note: str,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.urls = QLineEdit()
        self.urls.setEchoMode(QLineEdit.EchoMode.Password)
        self.urls.setPlaceholderText("leave empty to keep the stored addresses" if stored
                                     else "ntfy://my-booth-topic (several: separate by spaces)")
        self.show_urls = QCheckBox("Show what I type")
        self.show_urls.toggled.connect(lambda on: self.urls.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        self.stored = QLabel(_stored_text(stored, secret_note))
        self.stored.setWordWrap(True)
        self.stored.setObjectName("secretNote")
        self.remove = QCheckBox("Remove the stored addresses")
        self.remove.setVisible(bool(stored))
        examples = QLabel("One Apprise address per service, separated by spaces, e.g.\n"
                          + "\n".join(EXAMPLES))
        examples.setWordWrap(True)
        self.test = QPushButton("Send a test alert")
        self.test.clicked.connect(self._ask_for_test)
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        self.table = QTableWidget(len(KINDS), 4)
        self.table.setHorizontalHeaderLabels(["Alert", "Send to", "At least", "Phone at most"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeaderItem(3).setToolTip("At most one phone alert of this kind "
                                                      "in this many minutes; the tray shows all")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(True)
        current = routes_from_setting(routes)
        for row, kind in enumerate(KINDS):
            route = current[kind.name]
            label = QTableWidgetItem(kind.label)
            label.setToolTip(kind.label)
            self.table.setItem(row, 0, label)
            self.table.setCellWidget(row, 1, _combo(DESTINATIONS, route.to))
            self.table.setCellWidget(row, 2, _combo(SEVERITIES, route.min_severity))
            gap = QSpinBox()
            gap.setRange(0, 24 * 60)
            gap.setSuffix(" min")
            gap.setSpecialValueText("no limit")
            gap.setValue(route.gap_minutes)
            self.table.setCellWidget(row, 3, gap)
        # Every row shown: the page scrolls as a whole, never a table inside a scrolling page.
        self.table.resizeRowsToContents()
        rows = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(rows + header.sizeHint().height() + 2 * self.table.frameWidth())
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        form = QFormLayout()
        form.addRow("Alert addresses", self.urls)
        form.addRow("", self.show_urls)
        form.addRow("", self.stored)
        form.addRow("", self.remove)
        form.setRowVisible(self.remove, bool(stored))  # a hidden row still takes its spacing
        form.addRow("", examples)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test)
        test_row.addStretch(1)
        form.addRow("", test_row)
        form.addRow("", self.test_result)
        form.setRowVisible(self.test_result, False)  # until there is a result to show
        self._form = form
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        where = QLabel("Where each alert goes (the window lists every alert; the phone's "
                       "message names this booth):")
        where.setWordWrap(True)
        layout.addWidget(where)
        layout.addWidget(self.table)
        layout.addStretch(1)

    # -- what Save takes --------------------------------------------------------------------

    def typed_urls(self) -> str:
        return " ".join(split_urls(self.urls.text()))

    def cleared(self) -> bool:
        return self.remove.isChecked() and not self.typed_urls()

    def routes_setting(self) -> dict[str, dict[str, Any]]:
        routes: dict[str, Route] = {}
        for row, kind in enumerate(KINDS):
            to, severity, gap = (self.table.cellWidget(row, c) for c in (1, 2, 3))
            assert isinstance(to, QComboBox) and isinstance(severity, QComboBox)
            assert isinstance(gap, QSpinBox)
            routes[kind.name] = Route(to.currentData(), severity.currentData(), gap.value())
        return routes_to_setting(routes)

    def forget_typed(self) -> None:
        self.urls.clear()

    # -- the test ----------------------------------------------------------------------------

    def _ask_for_test(self) -> None:
        self.test.setEnabled(False)
        self.test_result.setText("Sending…")
        self._form.setRowVisible(self.test_result, True)
        self.test_requested.emit(split_urls(self.urls.text()))

    @Slot(object)
    def show_test_result(self, outcomes: list[TestOutcome]) -> None:
        self.test.setEnabled(True)
        self.test_result.setText("\n".join(("✔ " if o.ok else "✘ ") + o.message
                                           for o in outcomes))


def _stored_text(stored: tuple[str, ...], secret_note: str) -> str:
    if not stored:
        return "No alert address stored: alerts show in the tray only."
    return f"Alerts go to: {', '.join(stored)}. {secret_note}".strip()


def _combo(choices: list[tuple[str, str]], current: str) -> QComboBox:
    box = QComboBox()
    for label, value in choices:
        box.addItem(label, value)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box
