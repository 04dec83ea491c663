"""The refund claims panel and the worker that feeds it (standalone; the app wires them).

The view only draws and asks: listing claims, running a cycle and writing the CSV happen in
RefundsWorker, which lives on the thread that owns the Runtime (the monitor worker's thread), so
the GUI never waits on the store, the network or the disk. The export path is chosen here with a
file dialog and handed over; the worker writes the file atomically and says how it went.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction, QBrush, QColor, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
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

from app.adapters.system.settings_file import write_atomic
from app.core.alerts import Alert, fresh_alerts
from app.core.errors import MonitorError
from app.core.model import feature_label
from app.core.money import dollars
from app.core.refund_letter import export_csv, utc_text
from app.core.refunds import Claim, ClaimStatus, RefundSummary
from app.orchestration.refund_path import RefundPath
from app.runtime import utc_now

log = logging.getLogger(__name__)

STATUS_WORDS = {
    ClaimStatus.PENDING: "Not filed yet",
    ClaimStatus.FILED: "Filed",
    ClaimStatus.ACKNOWLEDGED: "Under review",
    ClaimStatus.REFUNDED: "Refunded",
    ClaimStatus.REJECTED: "Rejected",
    ClaimStatus.WITHDRAWN: "Withdrawn",
}
STATUS_COLOURS = {
    ClaimStatus.PENDING: "#b26a00",
    ClaimStatus.REFUNDED: "#1b7f3b",
    ClaimStatus.REJECTED: "#b3261e",
}
COLUMNS = ["Status", "Photo", "Feature", "Amount", "Charged", "Failed", "Filed", "Channel",
           "Claim id"]
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class RefundsWorker(QObject):
    """Move it to the Runtime's thread; call its slots through queued signals."""

    loaded = Signal(object, object, object)  # list[Claim], RefundSummary, list[Alert]
    alert = Signal(object)  # Alert: a claim filed, money back, a claim rejected
    exported = Signal(bool, str)  # ok, one line for the operator

    def __init__(self, refunds: Callable[[], RefundPath]):
        super().__init__()
        self._factory = refunds
        self._path: RefundPath | None = None
        self._problems: list[Alert] = []
        self._problem_keys: set[str] = set()

    def _refunds(self) -> RefundPath:
        if self._path is None:
            self._path = self._factory()
        return self._path

    @Slot()
    def reload(self) -> None:
        try:
            path = self._refunds()
            self.loaded.emit(path.claims(), path.summary(), list(self._problems))
        except MonitorError as error:
            log.warning("cannot list refund claims: %s", error)

    @Slot()
    def cycle(self) -> None:
        """After each sync: find, file, follow up; notices go out once each."""
        self._run(file_now=False)

    @Slot()
    def file_now(self) -> None:
        self._run(file_now=True)

    def _run(self, *, file_now: bool) -> None:
        try:
            report = self._refunds().cycle(file_now=file_now)
        except MonitorError as error:
            log.warning("refund cycle failed: %s", error)
            return
        self._problems = report.problems
        # A channel problem (wrong SMTP password, no refund route) notifies when it starts,
        # not on every cycle while it lasts.
        new_problems, self._problem_keys = fresh_alerts(report.problems, self._problem_keys)
        for notice in [*report.notices, *new_problems]:
            self.alert.emit(notice)
        self.reload()

    @Slot()
    def settings_changed(self) -> None:
        """Channels waiting on the operator (SMTP login, address) try again now."""
        try:
            self._refunds().settings_changed()
        except MonitorError as error:
            log.warning("refund settings not applied: %s", error)

    @Slot(str)
    def export_csv(self, path: str) -> None:
        try:
            claims = self._refunds().claims()
            write_atomic(Path(path), export_csv(claims).encode("utf-8"))
        except MonitorError as error:
            self.exported.emit(False, str(error))
            return
        self.exported.emit(True, f"Exported {len(claims)} claim{'s' if len(claims) != 1 else ''}"
                                 f" to {path}.")


class RefundsView(QWidget):
    reload_requested = Signal()
    file_now_requested = Signal()
    export_requested = Signal(str)  # the path the operator chose; the worker writes it

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Refund claims")
        self.summary = QLabel("No refund claims.")
        self.summary.setObjectName("refundSummary")
        self.summary.setStyleSheet("font-weight: 600;")  # the one line to glance at
        self.problems = QLabel("")
        self.problems.setWordWrap(True)
        self.problems.setObjectName("problems")
        self.problems.setVisible(False)
        self.note = QLabel("")
        self.note.setWordWrap(True)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        # Claim ids are what support quotes back: whole, never wrapped, and copyable.
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        copy = QAction("Copy claim id", self.table)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_selected_ids)
        self.table.addAction(copy)

        self.file_now_button = QPushButton("File now")
        self.file_now_button.setToolTip("Send every claim that is due now, without waiting to "
                                        "gather more for one email")
        self.file_now_button.clicked.connect(self.file_now_requested.emit)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self._choose_export_path)
        buttons = QHBoxLayout()
        buttons.addWidget(self.file_now_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.problems)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        layout.addLayout(buttons)

    def show_claims(self, claims: Sequence[Claim], summary: RefundSummary,
                    problems: Sequence[Alert] = ()) -> None:
        self.summary.setText(summary.text())
        self.problems.setText("\n".join(f"• {p.message}" for p in problems))
        self.problems.setVisible(bool(problems))
        self.export_button.setEnabled(bool(claims))
        newest_first = list(reversed(claims))
        self.table.setRowCount(len(newest_first))
        for row, claim in enumerate(newest_first):
            cells = [STATUS_WORDS[claim.status], claim.photo or "-", feature_label(claim.feature),
                     dollars(claim.amount_cents), _local(claim.charged_at),
                     _local(claim.failed_at), _local(claim.filed_at),
                     (claim.channel or "-").replace("+", " + "), claim.id]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, claim.id)
                if col == 3:
                    item.setTextAlignment(RIGHT)
                if col == 0 and claim.status in STATUS_COLOURS:
                    item.setForeground(QBrush(QColor(STATUS_COLOURS[claim.status])))
                item.setToolTip(_tooltip(claim))
                self.table.setItem(row, col, item)

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        items = (self.table.item(row, 0) for row in rows)
        return [str(item.data(Qt.ItemDataRole.UserRole)) for item in items if item is not None]

    def copy_selected_ids(self) -> None:
        ids = self.selected_ids()
        if ids:
            QGuiApplication.clipboard().setText("\n".join(ids))

    def show_export_result(self, ok: bool, message: str) -> None:
        self.note.setText(message if ok else f"Export failed: {message}")

    def _choose_export_path(self) -> None:
        default = str(Path.home() / f"refund-claims-{utc_now().astimezone():%Y-%m-%d}.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export refund claims", default,
                                              "CSV files (*.csv)")
        if path:
            self.note.setText("Exporting…")
            self.export_requested.emit(path)


def _local(moment: datetime | None) -> str:
    """The operator reads local time (the date only when not today); support gets UTC
    (tooltip, export, the letter)."""
    if moment is None:
        return "-"
    local = moment.astimezone()
    today = local.date() == utc_now().astimezone().date()
    return local.strftime("%H:%M:%S" if today else "%d %b %H:%M")


def _tooltip(claim: Claim) -> str:
    lines = [f"Claim {claim.id}, photo {claim.photo or 'not known'}",
             f"Usage history entry {claim.ledger_entry_id}",
             f"Charged {utc_text(claim.charged_at)} UTC (as support sees it)", claim.reason]
    if claim.error:
        lines.append(f"Error seen: {claim.error}")
    if claim.resolution:
        lines.append(f"Outcome: {claim.resolution}")
    return "\n".join(lines)
