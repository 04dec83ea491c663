"""The queue window: every AI job with its state, and the operator's three levers.

It only draws QueueSnapshots and emits requests (retry, remove, send anyway, resume); the job
worker does the work on its own thread. Selection survives redraws, keyed by job id.

A model/view table, not a QTableWidget: a snapshot replaces the model's list in one reset and
only visible rows are ever formatted. (A QTableWidget refilled item by item, with columns sized
to contents, froze the GUI thread for seconds while a 300-job backlog drained.) Nothing is
redrawn while the window is hidden.
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.jobs import FINAL, OPEN, Job, JobState
from app.core.model import FEATURE_LABELS, Feature
from app.gui.job_worker import QueueSnapshot
from app.runtime import utc_now

COLUMNS = ("Photo", "Feature", "State", "Tries", "Next try", "Updated", "Problem")
STATE_WORDS = {
    JobState.PENDING: "Queued", JobState.HELD: "Held (slow link)", JobState.SENDING: "Sending",
    JobState.WAITING_RESULT: "In the cloud", JobState.DOWNLOADING: "Downloading",
    JobState.SUCCEEDED: "Done", JobState.FAILED: "Failed", JobState.GIVEN_UP: "Given up",
    JobState.REMOVED: "Removed",
}
STATE_COLOURS = {
    JobState.HELD: "#b26a00", JobState.FAILED: "#b00020", JobState.GIVEN_UP: "#b00020",
    JobState.SUCCEEDED: "#2e7d32", JobState.REMOVED: "#777777",
}
FILTERS = ("Open and problems", "Everything", "Open only")
PROBLEMS = {JobState.FAILED, JobState.GIVEN_UP}
WIDTHS = (150, 130, 120, 45, 80, 70)  # the last column (Problem) stretches
_Index = QModelIndex | QPersistentModelIndex


class JobTableModel(QAbstractTableModel):
    """The jobs shown, newest first; cells are formatted only when the view asks for them."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Job] = []
        self.online = True
        self._now = utc_now()

    def set_jobs(self, jobs: list[Job], online: bool = True) -> None:
        self.beginResetModel()
        self.jobs = jobs
        self.online = online
        self._now = utc_now()
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.jobs)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= len(self.jobs):
            return None
        job, col = self.jobs[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(index.row(), col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return job.source_path if col == 0 else (job.last_error if col == 6 else None)
        if role == Qt.ItemDataRole.ForegroundRole and col == 2 and job.state in STATE_COLOURS:
            return QBrush(QColor(STATE_COLOURS[job.state]))
        return None

    def text(self, row: int, col: int) -> str:
        job = self.jobs[row]
        if col == 0:
            return Path(job.source_path).name
        if col == 1:
            return _feature(job.feature)
        if col == 2:
            return STATE_WORDS[job.state]
        if col == 3:
            return str(job.attempts)
        if col == 4:
            when = _next_try(job, self._now)
            return "when online" if when == "now" and not self.online else when
        if col == 5:
            return _clock(job.updated_at)
        return job.last_error or ""


class QueueWindow(QWidget):
    retry_requested = Signal(list)
    remove_requested = Signal(list)
    send_anyway_requested = Signal(list)
    resume_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("AI job queue — Booth Credit Monitor")
        self.resize(900, 480)
        self._snapshot: QueueSnapshot | None = None

        self.summary = QLabel("No jobs yet.")
        self.summary.setObjectName("queueSummary")
        # Where photos go in and results come out; a click opens the folder (no I/O here:
        # the desktop's file manager does the opening).
        self.folders = QLabel("")
        self.folders.setTextFormat(Qt.TextFormat.RichText)
        self.folders.setOpenExternalLinks(True)
        self.folders.setWordWrap(True)
        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #fdecea; color: #611a15; padding: 6px;")
        self.banner.hide()
        self.resume_button = QPushButton("Resume queue")
        self.resume_button.clicked.connect(self.resume_requested.emit)
        self.resume_button.hide()
        self.filter = QComboBox()
        self.filter.addItems(FILTERS)
        self.filter.currentIndexChanged.connect(self._redraw)

        self.model = JobTableModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate(WIDTHS):
            header.resizeSection(col, width)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self._dirty = False

        self.retry_button = QPushButton("Retry selected")
        self.send_button = QPushButton("Send anyway")
        self.remove_button = QPushButton("Remove")
        # Bound methods, not lambdas: a lambda holding self keeps the widget alive in a cycle
        # that Python's collector then deletes behind Qt's back.
        self.retry_button.clicked.connect(self._retry)
        self.send_button.clicked.connect(self._send_anyway)
        self.remove_button.clicked.connect(self._remove)

        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.filter)
        buttons = QHBoxLayout()
        for button in (self.retry_button, self.send_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.resume_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.folders)
        layout.addWidget(self.banner)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self._update_buttons()

    # -- drawing --------------------------------------------------------------------------------

    def set_snapshot(self, snap: QueueSnapshot) -> None:
        self._snapshot = snap
        c = snap.counts
        parts = [f"{c.open} open"]
        for state in (JobState.HELD, JobState.SUCCEEDED, JobState.FAILED, JobState.GIVEN_UP):
            if c.count(state):
                parts.append(f"{c.count(state)} {STATE_WORDS[state].lower()}")
        link = "cloud reachable" if snap.online else "cloud unreachable"
        self.summary.setText(" · ".join(parts) + f" · {link}")
        if snap.folders is not None:
            self.folders.setText(
                "Photos in: " + _folder_link(snap.folders.hot) + " · results: "
                + _folder_link(snap.folders.output) + " · set aside: "
                + _folder_link(snap.folders.quarantine))
        problems = []
        if c.pause is not None:
            problems.append(f"Paused: {c.pause.message}")
        if not snap.online and snap.offline_reason:
            problems.append(f"Waiting for the cloud: {snap.offline_reason}")
        self.banner.setText("\n".join(problems))
        self.banner.setVisible(bool(problems))
        self.resume_button.setVisible(c.pause is not None)
        self._redraw()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty:
            self._redraw()

    def _redraw(self, *_: object) -> None:
        snap = self._snapshot
        if snap is None:
            return
        if not self.isVisible():
            self._dirty = True  # drawn when shown: a hidden window costs the GUI thread nothing
            return
        self._dirty = False
        keep = set(self.selected_ids())
        mode = self.filter.currentIndex()
        self.model.set_jobs([j for j in reversed(snap.jobs) if _visible(j, mode)], snap.online)
        selection = self.table.selectionModel()
        for row, job in enumerate(self.model.jobs):
            if job.id in keep:
                selection.select(self.model.index(row, 0),
                                 selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
        self._update_buttons()

    # -- actions --------------------------------------------------------------------------------

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.jobs[r].id for r in rows if r < len(self.model.jobs)]

    def selected_jobs(self) -> list[Job]:
        ids = set(self.selected_ids())
        return [j for j in self.model.jobs if j.id in ids]

    def _update_buttons(self, *_: object) -> None:
        jobs = self.selected_jobs()
        self.retry_button.setEnabled(any(j.state in PROBLEMS or j.state in OPEN for j in jobs))
        self.send_button.setEnabled(any(j.state is JobState.HELD for j in jobs))
        self.remove_button.setEnabled(any(j.state is not JobState.REMOVED for j in jobs))

    def _retry(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.retry_requested.emit(ids)

    def _send_anyway(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.send_anyway_requested.emit(ids)

    def _remove(self) -> None:
        jobs = self.selected_jobs()
        if not jobs:
            return
        in_cloud = [j for j in jobs if j.cloud_job_id and j.state not in FINAL]
        text = f"Remove {len(jobs)} job{'s' if len(jobs) != 1 else ''} from the queue?"
        if in_cloud:
            text += (f"\n\n{len(in_cloud)} already reached the cloud and may have been charged; "
                     "their results will not be downloaded.")
        if self.confirm(text):
            self.remove_requested.emit([j.id for j in jobs])

    def confirm(self, text: str) -> bool:
        answer = QMessageBox.question(self, "Remove jobs", text)
        return answer == QMessageBox.StandardButton.Yes


def _visible(job: Job, mode: int) -> bool:
    if mode == 1:
        return True
    if mode == 2:
        return job.state in OPEN
    return job.state in OPEN or job.state in PROBLEMS


def _feature(feature: str) -> str:
    try:
        return FEATURE_LABELS[Feature(feature)]
    except ValueError:
        return feature


def _clock(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


def _next_try(job: Job, now: datetime) -> str:
    if job.state not in OPEN or job.state is JobState.HELD or job.next_attempt_at is None:
        return ""
    seconds = (job.next_attempt_at - now).total_seconds()
    return "now" if seconds <= 0 else f"in {seconds:.0f} s"


def _folder_link(folder: Path) -> str:
    url = QUrl.fromLocalFile(str(folder)).toString()
    return f'<a href="{html.escape(url)}">{html.escape(str(folder))}</a>'
