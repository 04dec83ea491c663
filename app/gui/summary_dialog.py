"""The event summary window: what the night came to, to keep or to export.

The dialog only draws; the monitor worker reads the store (app.orchestration.summary_path) and
writes the CSV, so opening it never waits on the disk.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.event_summary import EventSummary
from app.core.money import dollars
from app.gui.screen_fit import place
from app.runtime import utc_now

# (label, hours back; None = the latest event as the summary finds it)
SPANS = [("This event", None), ("Last 24 hours", 24.0), ("Last 7 days", 24.0 * 7)]
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class SummaryDialog(QDialog):
    requested = Signal(object)  # since: datetime | None
    export_requested = Signal(str, object)  # path, since

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Event summary — Booth Credit Monitor")
        self.summary: EventSummary | None = None
        self.span = QComboBox()
        for label, hours in SPANS:
            self.span.addItem(label, hours)
        self.span.currentIndexChanged.connect(self.reload)
        self.when = QLabel("")
        self.text = QLabel("Reading…")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Feature", "Delivered", "Charged"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self._choose_export)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        top = QHBoxLayout()
        top.addWidget(self.span)
        top.addWidget(self.when, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.text)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        layout.addLayout(buttons)
        place(self, QSize(560, 420), QSize(420, 320))

    def since(self) -> object:
        hours = self.span.currentData()
        return None if hours is None else utc_now() - timedelta(hours=float(hours))

    def reload(self, *_: object) -> None:
        self.text.setText("Reading…")
        self.requested.emit(self.since())

    def show_summary(self, summary: EventSummary) -> None:
        self.summary = summary
        start = summary.since.astimezone().strftime("%d %b %H:%M")
        end = summary.until.astimezone().strftime("%d %b %H:%M")
        self.when.setText(f"{start} – {end} (this PC's time)")
        lines = summary.lines()
        if summary.balance_cents is not None:
            lines.append(f"Balance now {dollars(summary.balance_cents)}")
        self.text.setText("\n".join(lines))
        self.table.setRowCount(len(summary.by_feature))
        for row, spend in enumerate(summary.by_feature):
            for col, text in enumerate((spend.label, str(spend.photos),
                                        dollars(spend.charged_cents))):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(RIGHT)
                self.table.setItem(row, col, item)
        self.export_button.setEnabled(True)

    def show_export_result(self, ok: bool, message: str) -> None:
        self.note.setText(message if ok else f"Export failed: {message}")

    def _choose_export(self) -> None:
        default = str(Path.home() / f"event-summary-{utc_now().astimezone():%Y-%m-%d}.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export the event summary", default,
                                              "CSV files (*.csv)")
        if path:
            self.note.setText("Exporting…")
            self.export_requested.emit(path, self.since())
