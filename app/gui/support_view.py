"""The account guard in the window: the requests to support beside the refund claims, the
"Dispute packet…" button, and the worker that runs the guard after each sync.

As with the refund claims, the view only draws and asks. GuardWorker lives on the thread that
owns the Runtime (the monitor worker's): it finds the traps, files and follows the requests,
and writes the dispute packet, so the GUI never waits on the store, the network or the disk.
The one thing only the GUI thread can do is render the balance panel: the view (or the app,
for a filed dispute waiting for its screenshot) grabs it and hands the PNG over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QObject, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor
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

from app.core.account_guard import Trap
from app.core.alerts import Alert, fresh_alerts
from app.core.errors import MonitorError
from app.core.money import dollars
from app.core.status import clock_text
from app.core.support_requests import KIND_WORDS, RequestStatus, SupportRequest
from app.orchestration.guard_path import GuardPath
from app.runtime import utc_now

log = logging.getLogger(__name__)

STATUS_WORDS = {
    RequestStatus.PENDING: "Not sent yet",
    RequestStatus.FILED: "Filed",
    RequestStatus.ACKNOWLEDGED: "Under review",
    RequestStatus.RESOLVED: "Settled",
    RequestStatus.REJECTED: "Rejected",
    RequestStatus.WITHDRAWN: "Withdrawn",
}
STATUS_COLOURS = {RequestStatus.PENDING: "#b26a00", RequestStatus.RESOLVED: "#1b7f3b",
                  RequestStatus.REJECTED: "#b3261e"}
COLUMNS = ["Status", "Request", "At stake", "Noticed", "Filed", "Channel", "Request id"]
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def widget_png(widget: QWidget) -> bytes | None:
    """The widget as the operator sees it, as PNG bytes (GUI thread only)."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not widget.grab().save(buffer, "PNG"):
        return None
    return bytes(buffer.data().data())


class GuardWorker(QObject):
    """Move it to the Runtime's thread; call its slots through queued signals."""

    loaded = Signal(object, object, object)  # list[SupportRequest], list[Trap], list[Alert]
    alert = Signal(object)  # a trap found, a plan reminder, a request filed or settled
    wants_screenshot = Signal(object)  # list[str]: disputes waiting for the balance panel
    packet_written = Signal(bool, str)  # ok, one line for the operator

    def __init__(self, guard: Callable[[], GuardPath],
                 phone: Callable[[list[Alert]], object] | None = None):
        """`phone`: the phone alerts' outbox (AlertWorker.take_all), given every notice before
        it is emitted, so the guard's notices reach the phone as the monitor's own do."""
        super().__init__()
        self._factory = guard
        self._phone = phone
        self._path: GuardPath | None = None
        self._traps: list[Trap] | None = None
        self._requests: list[SupportRequest] = []
        self._problems: list[Alert] = []
        self._problem_keys: set[str] = set()

    def _guard(self) -> GuardPath:
        if self._path is None:
            self._path = self._factory()
        return self._path

    @Slot()
    def reload(self) -> None:
        try:
            path = self._guard()
            traps = self._traps if self._traps is not None else path.traps()
            self.loaded.emit(path.requests(), traps, list(self._problems))
        except MonitorError as error:
            log.warning("cannot list support requests: %s", error)

    def current(self) -> tuple[list[Trap], list[SupportRequest]]:
        """The traps and requests of the last cycle (before the first: the cached account's),
        for the Snapshot: read on this thread, so the GUI's assessment never touches disk."""
        if self._traps is None:
            path = self._guard()
            self._traps, self._requests = path.traps(), path.requests()
        return list(self._traps), list(self._requests)

    @Slot()
    def cycle(self) -> None:
        """After each sync: read the payment side, find the traps, file, follow up."""
        self._run(file_now=False)

    @Slot()
    def file_now(self) -> None:
        self._run(file_now=True)

    def _run(self, *, file_now: bool, read: bool = True) -> None:
        try:
            path = self._guard()
            report = path.cycle(file_now=file_now, read=read)
            # After the cycle: a closed account's notice says the restore request it filed.
            requests = path.requests()
            notices = path.new_notices(report.traps, requests, commit=self._phone)
            waiting = [r.id for r in path.wanting_screenshot()]
        except MonitorError as error:
            log.warning("account guard cycle failed: %s", error)
            return
        except Exception:
            # Runs inside the balance refresh: a bug here must not stop the balance moving.
            log.exception("account guard cycle failed unexpectedly")
            return
        self._traps, self._requests = report.traps, requests
        self._problems = report.problems
        new_problems, self._problem_keys = fresh_alerts(report.problems, self._problem_keys)
        # The trap notices are in the outbox already (new_notices); requests filed or settled
        # and channel problems go now, after the relay's commit (README, "Phone alerts").
        later = [*report.notices, *new_problems]
        if self._phone is not None and later:
            self._phone(later)
        for notice in [*notices, *later]:
            log.info("alert: %s: %s", notice.title, notice.message)  # the log tells it too
            self.alert.emit(notice)
        if waiting:
            self.wants_screenshot.emit(waiting)
        self.reload()

    @Slot(object, object)
    def attach_screenshot(self, request_ids: list[str], png: bytes | None) -> None:
        if not png:
            return
        try:
            attached = [r for r in request_ids if self._guard().attach_screenshot(r, png)]
        except MonitorError as error:
            log.warning("screenshot not attached: %s", error)
            return
        if attached:
            # File the dispute now rather than at the next sync, a minute away (the payment
            # side was read moments ago). Only after an attach: no loop when one fails.
            self._run(file_now=False, read=False)

    @Slot()
    def settings_changed(self) -> None:
        try:
            self._guard().settings_changed()
        except MonitorError as error:
            log.warning("support settings not applied: %s", error)

    @Slot(str, object)
    def write_packet(self, folder: str, png: bytes | None) -> None:
        try:
            path = self._guard()
            req = path.dispute()
            if req is None:
                self.packet_written.emit(False, "Nothing to dispute: the usage history "
                                                "explains the balance.")
                return
            written = path.write_packet(req, Path(folder), png)
            stored = any(r.id == req.id for r in path.requests())
        except MonitorError as error:
            self.packet_written.emit(False, f"Dispute packet not saved: {error}")
            return
        self.packet_written.emit(True, packet_message(req, stored, folder, len(written)))


def packet_message(req: SupportRequest, stored: bool, folder: str, files: int) -> str:
    saved = f"{files} files saved in {folder}"
    if not stored:
        return (f"Not filed: {saved}. Send the letter and its attachments to support "
                "yourself.")
    if req.status in (RequestStatus.FILED, RequestStatus.ACKNOWLEDGED) and req.filed_at:
        how = {"cloud": " with the cloud", "email": " by email"}.get(
            req.channel or "", f" ({req.channel})" if req.channel else "")
        return (f"Filed{how} at {_local(req.filed_at)} as {req.id}; a copy ({saved}) for "
                "your records.")
    return f"{req.id} is {STATUS_WORDS[req.status].lower()}; {saved}."


class SupportView(QWidget):
    file_now_requested = Signal()
    packet_requested = Signal(str, object)  # folder, PNG of the balance panel (or None)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.summary = QLabel("No requests to support.")
        self.summary.setObjectName("supportSummary")
        self.summary.setStyleSheet("font-weight: 600;")
        self.problems = QLabel("")
        self.problems.setWordWrap(True)
        self.problems.setVisible(False)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        self.file_now_button = QPushButton("File now")
        self.file_now_button.setToolTip("Send every request that is due now")
        self.file_now_button.clicked.connect(self.file_now_requested.emit)
        self.packet_button = QPushButton("Dispute packet…")
        self.packet_button.setToolTip("Save the letter, the usage entries (CSV), the facts and "
                                      "a picture of the balance for a balance dispute")
        self.packet_button.clicked.connect(self._ask_packet)
        buttons = QHBoxLayout()
        buttons.addWidget(self.file_now_button)
        buttons.addWidget(self.packet_button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.problems)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        layout.addLayout(buttons)
        # Set by the app: the balance panel as PNG, and where to save (a dialog for people;
        # tests replace both).
        self.balance_png: Callable[[], bytes | None] = lambda: None
        self.ask_folder: Callable[[QWidget, str], str] = _ask_folder

    def show_requests(self, requests: Sequence[SupportRequest], traps: Sequence[Trap] = (),
                      problems: Sequence[Alert] = ()) -> None:
        open_ = [r for r in requests if r.is_open]
        stake = sum(r.at_risk_cents for r in open_)
        if open_:
            self.summary.setText(f"{len(open_)} request{'s' if len(open_) != 1 else ''} to "
                                 f"support open, {dollars(stake)} at stake.")
        elif requests:
            self.summary.setText("Every request to support is settled.")
        else:
            self.summary.setText("No requests to support.")
        self.problems.setText("\n".join(f"• {p.message}" for p in problems))
        self.problems.setVisible(bool(problems))
        newest_first = list(reversed(requests))
        self.table.setRowCount(len(newest_first))
        for row, req in enumerate(newest_first):
            cells = [STATUS_WORDS[req.status], KIND_WORDS.get(req.kind, req.title),
                     dollars(req.at_risk_cents) if req.at_risk_cents else "-",
                     _local(req.created_at), _local(req.filed_at),
                     (req.channel or "-").replace("+", " + "), req.id]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 2:
                    item.setTextAlignment(RIGHT)
                if col == 0 and req.status in STATUS_COLOURS:
                    item.setForeground(QBrush(QColor(STATUS_COLOURS[req.status])))
                item.setToolTip("\n".join(x for x in (req.message, req.resolution) if x))
                self.table.setItem(row, col, item)

    def show_packet_result(self, ok: bool, message: str) -> None:
        self.packet_button.setEnabled(True)
        self.note.setText(message)

    def _ask_packet(self) -> None:
        parent = self.ask_folder(self, str(Path.home()))
        if not parent:
            return
        folder = Path(parent) / f"dispute-{utc_now().astimezone():%Y%m%d-%H%M}"
        self.packet_button.setEnabled(False)  # one at a time; the answer enables it again
        self.note.setText("Saving the dispute packet…")
        self.packet_requested.emit(str(folder), self.balance_png())


def _ask_folder(parent: QWidget, start: str) -> str:
    return QFileDialog.getExistingDirectory(parent, "Save the dispute packet in", start)


def _local(moment: datetime | None) -> str:
    return "-" if moment is None else clock_text(moment, utc_now())
