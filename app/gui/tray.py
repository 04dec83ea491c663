"""The tray icon and its menu. Texts are refreshed on aboutToShow (as Vorta does), so the age in
the menu is current without a timer redrawing a menu nobody is looking at."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.core.alerts import Alert
from app.core.bandwidth import link_text
from app.core.jobs import QueueCounts
from app.core.status import StatusView, age_text
from app.core.tray_state import TrayState, attention_reasons, tray_state
from app.gui.icons import state_icon
from app.gui.monitor_worker import Snapshot
from app.gui.queue_badge import badge_icon, tooltip_line
from app.runtime import utc_now

TOOLTIP_TICK_MS = 60_000
DEMO_SCENARIOS = [
    ("Another booth spends credits", "other-booth-spend", {"feature": "draw_me", "count": 5}),
    ("Renewal drawn from credits", "renewal-from-credits", {}),
    ("Purchase that arrives late (30 s)", "late-purchase",
     {"amount_cents": 5000, "delay_seconds": 30}),
    ("Coupon bonus (Pro4Free)", "coupon-bonus",
     {"coupon_code": "Pro4Free", "amount_cents": 4000, "delay_seconds": 0}),
    ("Outage: cloud down (60 s)", "outage", {"mode": "drop", "seconds": 60}),
    ("Outage: 503 errors (60 s)", "outage", {"mode": "503", "seconds": 60}),
    ("Outage: Wi-Fi login page (60 s)", "outage", {"mode": "captive_portal", "seconds": 60}),
    ("Plan expires (grace period)", "expire-account", {"grace_days": 30}),
    ("API token revoked", "revoke-token", {}),
    ("Restore everything", "restore", {}),
]


def tooltip_text(view: StatusView, snap: Snapshot | None = None,
                 queue: QueueCounts | None = None) -> str:
    now = utc_now()
    lines = [f"Booth credits: {view.balance_text()}", age_text(view.as_of, now)]
    if snap is not None and snap.link is not None:
        lines.append(link_text(snap.link, now))
    if queue is not None and tooltip_line(queue):
        lines.append(tooltip_line(queue))
    if view.offline:
        lines.append("OFFLINE: showing the last confirmed balance")
    elif view.stale:
        lines.append("STALE: not confirmed recently")
    if view.low_balance:
        lines.append("Low balance")
    lines += attention_reasons(view)
    return "\n".join(lines)


class TrayController(QObject):
    refresh_requested = Signal()
    check_link_requested = Signal()
    summary_requested = Signal()
    show_window_requested = Signal()
    settings_requested = Signal()
    dashboard_requested = Signal()
    demo_requested = Signal(str, object)
    quit_requested = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._snapshot: Snapshot | None = None
        self._queue: QueueCounts | None = None
        self.checking_link = False
        self.icon = QSystemTrayIcon(state_icon(TrayState.STALE), self)
        self.menu = QMenu()
        # The one thing the operator opens the menu for: bold, and a click opens the window.
        self._balance = self.menu.addAction("Balance: not yet known")
        font = self._balance.font()
        font.setBold(True)
        self._balance.setFont(font)
        self._balance.triggered.connect(self.show_window_requested.emit)
        self._age = self.menu.addAction("")
        self._age.setEnabled(False)
        self._problem = self.menu.addAction("")
        self._problem.setEnabled(False)
        self._link = self.menu.addAction("Connection not checked yet")
        self._link.setEnabled(False)
        self._queue_line = self.menu.addAction("")
        self._queue_line.setEnabled(False)
        self.menu.addSeparator()
        self._refresh = self._add("Refresh now", self.refresh_requested)
        self._check_link = self._add("Check connection now", self.check_link_requested)
        self._add("Open the cloud dashboard", self.dashboard_requested)
        self._add("Show window", self.show_window_requested)
        self._add("Event summary", self.summary_requested)
        self._add("Settings…", self.settings_requested)
        self.demo_menu = self.menu.addMenu("Demo")
        for label, name, payload in DEMO_SCENARIOS:
            action = self.demo_menu.addAction(label)
            action.triggered.connect(
                lambda _=False, n=name, p=payload: self.demo_requested.emit(n, p)
            )
        self.demo_menu.menuAction().setVisible(False)
        self.menu.addSeparator()
        self._add("Quit", self.quit_requested)
        self.menu.aboutToShow.connect(self._update_texts)
        # Between syncs (up to minutes apart while backing off) the age in the tooltip still
        # has to move on; once a minute is plenty and costs nothing measurable when idle.
        self._tooltip_tick = QTimer(self)
        self._tooltip_tick.setInterval(TOOLTIP_TICK_MS)
        self._tooltip_tick.timeout.connect(self._update_tooltip)
        self._tooltip_tick.start()
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)

    def _add(self, label: str, signal: Signal) -> QAction:
        action = self.menu.addAction(label)
        action.triggered.connect(signal.emit)
        return action

    def show(self) -> None:
        self.icon.show()

    def set_snapshot(self, snap: Snapshot) -> None:
        self._snapshot = snap
        self._update_tooltip()
        self.demo_menu.menuAction().setVisible(snap.demo)
        self._update_texts()

    def set_queue(self, counts: QueueCounts) -> None:
        self._queue = counts
        self._update_tooltip()

    def _update_tooltip(self) -> None:
        if self._snapshot is None:
            return
        view = self._snapshot.view()
        icon = state_icon(tray_state(view, self._snapshot.link_slow()))
        if self._queue is not None:
            icon = badge_icon(icon, self._queue)
        self.icon.setIcon(icon)
        self.icon.setToolTip(tooltip_text(view, self._snapshot, self._queue))

    def notify(self, alert: Alert) -> None:
        icon = {
            "critical": QSystemTrayIcon.MessageIcon.Critical,
            "warning": QSystemTrayIcon.MessageIcon.Warning,
        }.get(alert.severity, QSystemTrayIcon.MessageIcon.Information)
        self.icon.showMessage(alert.title, alert.message, icon, 15_000)

    def _update_texts(self) -> None:
        if self._snapshot is None:
            return
        view = self._snapshot.view()
        self._balance.setText(f"Balance: {view.balance_text()}")
        self._age.setText(age_text(view.as_of, utc_now()))
        problem = (attention_reasons(view) or [view.last_error or ""])[0]
        self._problem.setText(problem)
        self._problem.setVisible(bool(problem))
        self._refresh.setText("Refreshing…" if self._snapshot.syncing else "Refresh now")
        self._link.setText(link_text(self._snapshot.link, utc_now()))
        self._check_link.setText("Checking the connection…" if self.checking_link
                                 else "Check connection now")
        line = tooltip_line(self._queue) if self._queue is not None else ""
        self._queue_line.setText(line)
        self._queue_line.setVisible(bool(line))

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_window_requested.emit()
