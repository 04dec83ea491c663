"""The Fleet tab: every booth of the account, the shared balance once, the fleet's pace.

Drawn from a FleetView the fleet worker built; this widget only renders it (ages move on with
a slow tick, like the rest of the window).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.fleet import FleetView
from app.core.fleet_text import COLUMNS, balance_line, pace_line, row_cells, summary_line
from app.core.status import clock_text
from app.orchestration.fleet_path import FleetStatus
from app.runtime import utc_now

TICK_MS = 30_000
EVENTS_SHOWN = 3
MUTED = QColor("#6b7079")
WARN = QColor("#c05a00")


class FleetPage(QWidget):
    # On screen or not: every booth's state is only received while someone looks at them.
    watched = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        self._view: FleetView | None = None
        self._status: FleetStatus | None = None
        self.connection = QLabel("")
        self.connection.setObjectName("fleetConnection")
        self.connection.setWordWrap(True)
        self.summary = QLabel("")
        self.balance = QLabel("")
        self.balance.setObjectName("fleetBalance")
        self.pace = QLabel("")
        for label in (self.summary, self.balance, self.pace):
            label.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.events = QLabel("")
        self.events.setWordWrap(True)
        self.events.setTextFormat(Qt.TextFormat.PlainText)
        self.events.setObjectName("fleetEvents")
        # The facts first and the newest events above the table: at 1366 x 768 and 150% the
        # page has room for about eight rows, and a held photo must not hide below them.
        layout = QVBoxLayout(self)
        for widget in (self.connection, self.summary, self.balance, self.pace, self.events):
            layout.addWidget(widget)
        layout.addWidget(self.table, 1)
        layout.addStretch(0)  # keeps the lines at the top while the table is hidden
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._render)
        self._tick.start()
        self.show_fleet(None, FleetStatus(False))  # until the fleet worker says otherwise

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.watched.emit(True)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.watched.emit(False)

    def show_fleet(self, view: FleetView | None, status: FleetStatus) -> None:
        self._view, self._status = view, status
        self._render()

    def _render(self) -> None:
        status, view = self._status, self._view
        if status is None:
            return
        self.connection.setText(status.text())
        now = utc_now()
        off = view is None or not status.configured
        for widget in (self.summary, self.balance, self.pace, self.table):
            widget.setVisible(not off)  # an empty label still takes its line
        if off:
            self.events.setVisible(False)
            self.table.setRowCount(0)
            return
        assert view is not None
        self.summary.setText(f"{summary_line(view)} (account {view.account})")
        self.balance.setText(balance_line(view, now))
        self.pace.setText(pace_line(view, now))
        self.table.setRowCount(len(view.rows))
        for r, row in enumerate(view.rows):
            for c, text in enumerate(row_cells(row, now)):
                item = QTableWidgetItem(text)
                if c >= 4:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if row.online is False or row.silent:
                    item.setForeground(MUTED)
                elif (c == 3 and row.link != "ok") or (c == 5 and row.held):
                    item.setForeground(WARN)
                self.table.setItem(r, c, item)
        names = {row.booth: row.name for row in view.rows}
        lines = [f"{clock_text(e.at, now) if e.at else ''}  {names.get(e.booth, e.booth)}: "
                 f"{e.text}" for e in view.events[:EVENTS_SHOWN]]
        self.events.setText("\n".join(lines))
        self.events.setVisible(bool(lines))
