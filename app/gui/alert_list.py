"""The window's alerts: newest first, bounded, scrollable, dismissable.

An alert about a condition (low balance, offline, grace period, photos held) stays listed while
its condition lasts and disappears by itself once it clears; one-off events (a claim filed, a
check result) stay until dismissed or pushed out by newer ones. The list lives in its own tab
and has a fixed place, so alerts arriving never move anything the operator is about to click.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.alerts import Alert
from app.runtime import utc_now

KEEP = 50
SEVERITY_MARK = {"critical": "✖", "warning": "⚠", "info": "ℹ"}


@dataclass(frozen=True)
class Shown:
    alert: Alert
    at: datetime

    def text(self) -> str:
        stamp = self.at.astimezone().strftime("%H:%M")
        return f"{stamp}  {self.alert.title}: {self.alert.message}"


class AlertList(QWidget):
    changed = Signal(int)  # how many are listed
    newest_changed = Signal(str)  # one line for the window's header ('' when none)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.items: list[Shown] = []  # newest first
        self._active: dict[str, set[str]] = {}  # source -> keys of conditions still active
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.empty = QLabel("No alerts. Conditions that need you show here and in the tray.")
        self.empty.setWordWrap(True)
        self.dismiss = QPushButton("Dismiss")
        self.dismiss.clicked.connect(self._dismiss_selected)
        self.dismiss_all = QPushButton("Dismiss all")
        self.dismiss_all.clicked.connect(self.clear)
        buttons = QHBoxLayout()
        buttons.addWidget(self.dismiss)
        buttons.addWidget(self.dismiss_all)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._redraw()

    def add(self, alert: Alert) -> None:
        if alert.key:
            self.items = [s for s in self.items if s.alert.key != alert.key]
        self.items = [Shown(alert, utc_now()), *self.items][:KEEP]
        self._redraw()

    def refresh(self, alerts: Sequence[Alert]) -> None:
        """The newest words of conditions already listed (a forecast whose estimate moved):
        each keeps its place and its time, and nothing notifies again."""
        newer = {a.key: a for a in alerts if a.key}
        changed = False
        for n, shown in enumerate(self.items):
            alert = newer.get(shown.alert.key)
            if alert is not None and alert != shown.alert:
                self.items[n] = Shown(alert, shown.at)
                changed = True
        if changed:
            self._redraw()

    def set_active(self, source: str, keys: set[str]) -> None:
        """`source` (the balance sync, the job queue) says which of its conditions hold; its
        lasting alerts whose key is not among them are dropped."""
        self._active[source] = set(keys)
        active = set().union(*self._active.values())
        kept = [s for s in self.items if not s.alert.lasting or s.alert.key in active]
        if len(kept) != len(self.items):
            self.items = kept
            self._redraw()

    def clear(self) -> None:
        self.items = []
        self._redraw()

    def texts(self) -> list[str]:
        return [s.text() for s in self.items]

    def _dismiss_selected(self) -> None:
        rows = {self.list.row(item) for item in self.list.selectedItems()}
        self.items = [s for i, s in enumerate(self.items) if i not in rows]
        self._redraw()

    def _redraw(self) -> None:
        self.list.clear()
        for shown in self.items:
            item = QListWidgetItem(f"{SEVERITY_MARK.get(shown.alert.severity, '')} "
                                   f"{shown.text()}")
            item.setData(Qt.ItemDataRole.UserRole, shown.alert.key)
            self.list.addItem(item)
        self.empty.setVisible(not self.items)
        self.list.setVisible(bool(self.items))
        self._update_buttons()
        self.changed.emit(len(self.items))
        self.newest_changed.emit(self.items[0].text() if self.items else "")

    def _update_buttons(self) -> None:
        self.dismiss.setEnabled(bool(self.list.selectedItems()))
        self.dismiss_all.setEnabled(bool(self.items))
