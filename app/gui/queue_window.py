"""The queue window: every AI job with its state, and the operator's three levers.

It only draws QueueSnapshots and emits requests (retry, remove, send anyway, resume); the job
worker does the work on its own thread. Selection survives redraws, keyed by job id.

A model/view table, not a QTableWidget: a snapshot replaces the model's list in one reset and
only visible rows are ever formatted. (A QTableWidget refilled item by item, with columns sized
to contents, froze the GUI thread for seconds while a 300-job backlog drained.) Nothing is
redrawn while the window is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QFontMetrics, QShowEvent
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

from app.core.job_words import job_note, next_step
from app.core.jobs import FINAL, OPEN, Job, JobState, QueuePause
from app.core.model import FEATURE_LABELS, feature_label
from app.core.money import dollars
from app.core.status import StatusView, clock_text
from app.gui.job_worker import QueueSnapshot
from app.runtime import utc_now

COLUMNS = ("Photo", "Feature", "State", "Tries", "Next try", "Updated", "Note")
STATE_WORDS = {
    JobState.PENDING: "Queued", JobState.HELD: "Held (slow link)", JobState.SENDING: "Sending",
    JobState.WAITING_RESULT: "In the cloud", JobState.DOWNLOADING: "Downloading",
    JobState.SUCCEEDED: "Done", JobState.FAILED: "Failed", JobState.GIVEN_UP: "Given up",
    JobState.REMOVED: "Removed", JobState.DUPLICATE: "Same photo again",
}
STATE_COLOURS = {
    JobState.HELD: "#b26a00", JobState.FAILED: "#b00020", JobState.GIVEN_UP: "#b00020",
    JobState.SUCCEEDED: "#2e7d32", JobState.REMOVED: "#777777", JobState.DUPLICATE: "#555555",
}
FILTERS = ("Open and problems", "Everything", "Open only")
PROBLEMS = {JobState.FAILED, JobState.GIVEN_UP}
# Photo, Feature (set from the longest label), State, Tries, Next try, Updated; Note stretches.
WIDTHS = [140, 0, 120, 45, 130, 70]
_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class LinkState:
    """What the queue waits on besides its own schedule, from the shared link state."""

    offline_since: str = ""  # "14:02" while the cloud cannot be reached
    pause: QueuePause | None = None


class JobTableModel(QAbstractTableModel):
    """The jobs shown, newest first; cells are formatted only when the view asks for them."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Job] = []
        self.link = LinkState()
        self.names: dict[str, str] = {}  # job id -> photo name, for "same photo as ..."
        self._now = utc_now()

    def set_jobs(self, jobs: list[Job], link: LinkState, names: dict[str, str]) -> None:
        self.beginResetModel()
        self.jobs = jobs
        self.link = link
        self.names = names
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
            return job.source_path if col == 0 else (self.text(index.row(), 6) or None
                                                     if col == 6 else None)
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
            return str(job.sends) if job.sends else ""
        if col == 4:
            return next_try(job, self._now, self.link)
        if col == 5:
            return _clock(job.updated_at)
        return job_note(job, self.names)


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

        self._link = LinkState()
        self.prices: dict[str, int] = {}
        self.summary = QLabel("No jobs yet.")
        self.summary.setObjectName("queueSummary")
        # Where photos go in and results come out; a click opens the folder (the desktop's
        # file manager does the opening). Buttons, not paths: a long path wraps at its first
        # "/" and pushes the table down; the path is in each button's tooltip.
        self.folder_buttons = {name: QPushButton(label) for name, label in (
            ("hot", "Photos in…"), ("output", "Results…"), ("quarantine", "Set aside…"))}
        for name, button in self.folder_buttons.items():
            button.setFlat(True)
            button.clicked.connect(lambda _=False, n=name: self._open_folder(n))
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
        widths = list(WIDTHS)
        metrics = QFontMetrics(self.table.font())
        widths[1] = max(metrics.horizontalAdvance(label) for label in FEATURE_LABELS.values()) + 24
        for col, width in enumerate(widths):
            header.resizeSection(col, width)
        header.setStretchLastSection(True)
        rows = self.table.verticalHeader().defaultSectionSize()
        self.table.setMinimumHeight(header.sizeHint().height() + 4 * rows)
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
        for button in self.folder_buttons.values():
            top.addWidget(button)
        top.addWidget(self.filter)
        buttons = QHBoxLayout()
        for button in (self.retry_button, self.send_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.resume_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.banner)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self._update_buttons()

    # -- drawing --------------------------------------------------------------------------------

    def set_snapshot(self, snap: QueueSnapshot) -> None:
        self._snapshot = snap
        self.prices = snap.prices
        if snap.folders is not None:
            for name, button in self.folder_buttons.items():
                button.setToolTip(str(getattr(snap.folders, name)))
        self._draw_summary()
        self._redraw()

    def set_link(self, view: StatusView) -> None:
        """The shared link state (the header shows the same): jobs say what they wait for."""
        now = utc_now()
        since = view.contact.failing_since if view.offline else None
        pause = self._snapshot.counts.pause if self._snapshot else None
        link = LinkState(clock_text(since, now) if since else "", pause)
        if link != self._link:
            self._link = link
            self._draw_summary()
            self._redraw()

    def _draw_summary(self) -> None:
        snap = self._snapshot
        if snap is None:
            return
        c = snap.counts
        parts = [f"{c.open} open"]
        for state in (JobState.HELD, JobState.SUCCEEDED, JobState.FAILED, JobState.GIVEN_UP,
                      JobState.DUPLICATE):
            if c.count(state):
                parts.append(f"{c.count(state)} {STATE_WORDS[state].lower()}")
        self.summary.setText(" · ".join(parts))
        problems = []
        if c.pause is not None:
            problems.append(f"Paused: {c.pause.message}")
        if self._link.offline_since:
            problems.append(f"No cloud since {self._link.offline_since}: photos wait here and "
                            "are sent when it answers again.")
        self.banner.setText("\n".join(problems))
        self.banner.setVisible(bool(problems))
        self.resume_button.setVisible(c.pause is not None)

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
        names = {j.id: Path(j.source_path).name for j in snap.jobs}
        link = LinkState(self._link.offline_since, snap.counts.pause)
        self.model.set_jobs([j for j in reversed(snap.jobs) if _visible(j, mode)], link, names)
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
        jobs = [j for j in self.selected_jobs() if j.state in PROBLEMS or j.state in OPEN]
        if not jobs:
            return
        # A run the cloud failed (and charged) is run again, and charged again; the others
        # pick up under the key they have, which the cloud never charges twice.
        rerun = [j for j in jobs if j.state is JobState.FAILED and j.cloud_job_id]
        if rerun:
            cost = self._cost(rerun)
            text = (f"Run {_photos(len(rerun))} again? "
                    f"{'They' if len(rerun) > 1 else 'It'} failed in the cloud after being "
                    f"charged. A new run is charged again{cost}. The failed run's refund claim "
                    "is filed on its own.")
            if not self.confirm("Retry photos", text, f"Retry and spend{cost}"):
                return
        self.retry_requested.emit([j.id for j in jobs])

    def _send_anyway(self) -> None:
        jobs = [j for j in self.selected_jobs() if j.state is JobState.HELD]
        if not jobs:
            return
        cost = self._cost(jobs)
        text = (f"Send {_photos(len(jobs))} over the slow link now? Each is charged when the "
                f"cloud starts it{cost}. On a slow link a job can fail after its charge; a "
                "refund claim is then filed on its own.")
        if self.confirm("Send anyway", text, f"Send and spend{cost}"):
            self.send_anyway_requested.emit([j.id for j in jobs])

    def _remove(self) -> None:
        jobs = self.selected_jobs()
        if not jobs:
            return
        in_cloud = [j for j in jobs if j.cloud_job_id and j.state not in FINAL]
        text = f"Remove {_photos(len(jobs))} from the queue?"
        if in_cloud:
            text += (f"\n\n{len(in_cloud)} already reached the cloud and may have been charged; "
                     "their results will not be downloaded.")
        if self.confirm("Remove photos", text, f"Remove {_photos(len(jobs))}"):
            self.remove_requested.emit([j.id for j in jobs])

    def _cost(self, jobs: list[Job]) -> str:
        known = [self.prices.get(j.feature) for j in jobs]
        if any(price is None for price in known):
            return ""
        return f" (about {dollars(sum(p for p in known if p is not None))})"

    def confirm(self, title: str, text: str, yes: str) -> bool:
        """Ask with named buttons (tests replace this)."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        go = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return box.clickedButton() is go

    def _open_folder(self, name: str) -> None:
        snap = self._snapshot
        if snap is not None and snap.folders is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(getattr(snap.folders, name))))


def _visible(job: Job, mode: int) -> bool:
    if mode == 1:
        return True
    if job.superseded_by is not None:
        return False  # a retried photo shows once, as its newest run
    if mode == 2:
        return job.state in OPEN
    return job.state in OPEN or job.state in PROBLEMS


def _photos(n: int) -> str:
    return f"{n} photo{'s' if n != 1 else ''}"


def _feature(feature: str) -> str:
    return feature_label(feature)


def _clock(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


def next_try(job: Job, now: datetime, link: LinkState) -> str:
    """When the job moves next, or what it waits for (the core's words, as `queue` prints)."""
    return next_step(job, now, offline=bool(link.offline_since), pause=link.pause)
