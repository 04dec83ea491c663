"""The tray icon and its menu, both drawn from one Assessment (app.core.conditions).

Texts are refreshed on aboutToShow (as Vorta does), so the age in the menu is current without a
timer redrawing a menu nobody is looking at. Status lines are ordinary enabled items that open
the window: disabled items are drawn in light grey, which nobody can read at a glance.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.core.alerts import Alert
from app.core.conditions import Assessment, Condition, link_line
from app.core.job_notices import queue_line
from app.core.jobs import QueueCounts
from app.core.trap_line import countdown_line, trap_line
from app.gui.icons import state_icon
from app.gui.monitor_worker import Snapshot
from app.gui.queue_badge import badge_icon
from app.runtime import utc_now

TOOLTIP_TICK_MS = 60_000
# Windows cuts a tray tooltip at 127 characters; what matters most comes first.
TOOLTIP_MAX = 127
TOOLTIP_MIN_TAIL = 16  # fewer characters of a line than this say nothing
MENU_LINE_MAX = 64
NOTIFY_MS = 15_000
MAX_STATUS_LINES = 5
DEMO_SCENARIOS = [
    ("Another booth spends credits", "other-booth-spend", {"feature": "draw_me", "count": 5}),
    ("Renewal drawn from credits", "renewal-from-credits", {}),
    ("Purchase that arrives late (30 s)", "late-purchase",
     {"amount_cents": 5000, "delay_seconds": 30}),
    ("Coupon bonus (Pro4Free)", "coupon-bonus",
     {"coupon_code": "Pro4Free", "amount_cents": 4000, "delay_seconds": 0}),
    ("Outage: cloud down (3 min)", "outage", {"mode": "drop", "seconds": 180}),
    ("Outage: 503 errors (60 s)", "outage", {"mode": "503", "seconds": 60}),
    ("Outage: Wi-Fi login page (60 s)", "outage", {"mode": "captive_portal", "seconds": 60}),
    ("Usage history lags the balance (30 s)", "ledger-lag",
     {"seconds": 30, "spend_count": 2}),
    ("Plan expires (grace period)", "expire-account", {"grace_days": 30}),
    ("API token revoked", "revoke-token", {}),
    ("Restore everything", "restore", {}),
]
# The support article's money traps (issue 11), after a separator: each puts the demo account
# into one trap; the 10-minute ones are backdated so the rule fires on the next sync.
TRAP_SCENARIOS = [
    ("Trap: lost purchase ($50 paid, never credited)", "lost-purchase", {"amount_cents": 5000}),
    ("Trap: coupon not activated (Pro4Free)", "coupon-not-activated", {}),
    ("Trap: unexplained deduction ($20)", "unexplained-deduction", {"amount_cents": 2000}),
    ("Trap: plan expiring (6½ days, no renewal)", "plan-ending", {"days": 6.5}),
    ("Trap: grace running out (2 days left)", "expire-account", {"grace_days": 2}),
    ("Trap: grace over, account closed", "close-account", {}),
    ("Busy night (other booths, speeding up)", "busy-night", {}),
]


def short(text: str, limit: int = MENU_LINE_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def tooltip_text(assessment: Assessment, queue: QueueCounts | None = None,
                 account: tuple[str, ...] = ()) -> str:
    """`account`: the account guard's lines (the worst open trap, the plan's countdown),
    after the state and before the queue: money at stake outranks photos waiting."""
    lines = [f"Booth credits {assessment.balance} {assessment.age}", assessment.words()]
    lines += [line for line in account if line]
    if queue is not None and queue_line(queue):
        lines.append(queue_line(queue))
    # Too long for Windows' tooltip: a last line of which only a few characters would show is
    # dropped; the one that then ends it is cut short ("Account closed, $174.70 removed — supp…"
    # still says what happened). The balance and the state are always there.
    while len(lines) > 2 and len("\n".join(lines[:-1])) > TOOLTIP_MAX - TOOLTIP_MIN_TAIL:
        lines.pop()
    text = "\n".join(lines)
    return text if len(text) <= TOOLTIP_MAX else text[: TOOLTIP_MAX - 1] + "…"


class TrayController(QObject):
    refresh_requested = Signal()
    check_link_requested = Signal()
    summary_requested = Signal()
    show_window_requested = Signal()
    settings_requested = Signal()
    dashboard_requested = Signal()
    demo_requested = Signal(str, object)
    diagnostics_requested = Signal()
    about_requested = Signal()
    quit_requested = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._snapshot: Snapshot | None = None
        self._queue: QueueCounts | None = None
        self.checking_link = False
        self.icon = QSystemTrayIcon(state_icon(Condition.NOT_CURRENT), self)
        self.menu = QMenu()
        # The one thing the operator opens the menu for: bold, and a click opens the window.
        self._balance = self.menu.addAction("Balance: not yet known")
        font = self._balance.font()
        font.setBold(True)
        self._balance.setFont(font)
        self._balance.triggered.connect(self.show_window_requested.emit)
        # One line per active condition, worst first, each with its own icon.
        self._status_lines = [self._line() for _ in range(MAX_STATUS_LINES)]
        self._queue_line = self._line()
        self._link = self._line()
        self.menu.addSeparator()
        self._refresh = self._add("Refresh now", self.refresh_requested)
        self._check_link = self._add("Check connection now", self.check_link_requested)
        self._add("Show window", self.show_window_requested)
        self._add("Event summary…", self.summary_requested)
        self._add("Open the cloud dashboard", self.dashboard_requested)
        self._add("Settings…", self.settings_requested)
        self.demo_menu = self.menu.addMenu("Demo")
        for item in [*DEMO_SCENARIOS, None, *TRAP_SCENARIOS]:
            if item is None:
                self.demo_menu.addSeparator()
                continue
            label, name, payload = item
            action = self.demo_menu.addAction(label)
            action.triggered.connect(
                lambda _=False, n=name, p=payload: self.demo_requested.emit(n, p)
            )
        self.demo_menu.menuAction().setVisible(False)
        self.menu.addSeparator()
        self._add("Save diagnostics…", self.diagnostics_requested)
        self._add("About…", self.about_requested)
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

    def _line(self) -> QAction:
        action = self.menu.addAction("")
        action.setVisible(False)
        action.triggered.connect(self.show_window_requested.emit)
        return action

    def show(self) -> None:
        self.icon.show()

    def assessment(self) -> Assessment | None:
        return self._snapshot.assess(self._queue) if self._snapshot is not None else None

    def set_snapshot(self, snap: Snapshot) -> None:
        self._snapshot = snap
        self._update_tooltip()
        self.demo_menu.menuAction().setVisible(snap.demo)
        self._update_texts()

    def set_queue(self, counts: QueueCounts) -> None:
        self._queue = counts
        self._update_tooltip()
        self._update_texts()

    def account_lines(self) -> tuple[str, ...]:
        """The worst open money trap and the plan's countdown ('' when none): from the same
        Snapshot as the icon, so the tooltip never names a trap the icon is green about."""
        if self._snapshot is None:
            return ()
        now = utc_now()
        snap = self._snapshot
        view = snap.view()
        return (trap_line(snap.traps, snap.requests, now),
                countdown_line(view.account, view.balance_cents, now))

    def _update_tooltip(self) -> None:
        found = self.assessment()
        if found is None:
            return
        icon = (badge_icon(found.worst, self._queue) if self._queue is not None
                else state_icon(found.worst))
        self.icon.setIcon(icon)
        self.icon.setToolTip(tooltip_text(found, self._queue, self.account_lines()))

    def notify(self, alert: Alert) -> None:
        icon = {
            "critical": QSystemTrayIcon.MessageIcon.Critical,
            "warning": QSystemTrayIcon.MessageIcon.Warning,
        }.get(alert.severity, QSystemTrayIcon.MessageIcon.Information)
        self.icon.showMessage(alert.title, alert.message, icon, NOTIFY_MS)

    def menu_lines(self) -> list[str]:
        """The visible status texts, top to bottom (what an operator reads)."""
        actions = [self._balance, *self._status_lines, self._queue_line, self._link]
        return [a.text() for a in actions if a.isVisible()]

    def _update_texts(self) -> None:
        found = self.assessment()
        if found is None or self._snapshot is None:
            return
        self._balance.setText(f"{found.balance}  {found.age}")
        for action, finding in zip(self._status_lines, [*found.findings, *[None] * 9],
                                   strict=False):
            action.setVisible(finding is not None)
            if finding is not None:
                action.setText(short(finding.line))
                action.setIcon(state_icon(finding.condition))
        # Each open money trap is a line of the assessment above (how far support is).
        line = queue_line(self._queue) if self._queue is not None else ""
        self._queue_line.setText(line)
        self._queue_line.setVisible(bool(line))
        snap = self._snapshot
        self._link.setText(short(link_line(snap.link, snap.view(), utc_now())))
        self._link.setVisible(True)
        self._refresh.setText("Refreshing…" if snap.syncing else "Refresh now")
        self._check_link.setText("Checking the connection…" if self.checking_link
                                 else "Check connection now")

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_window_requested.emit()
