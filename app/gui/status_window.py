"""The window: the same facts as the tray, with room for the account, the jobs, the link and
the claims. It is the whole UI where no system tray exists.

It fits the booth PC's screen (small laptops at 150% have about 900 x 450 logical pixels):
sized to the screen at first, then where the operator left it, clamped to the screen it opens
on. The header never changes height, so the tabs stay where a click expects them.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QHideEvent, QMoveEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QTabWidget, QVBoxLayout, QWidget

from app.core.alerts import Alert
from app.core.conditions import Condition
from app.core.forecast import photos_left_text
from app.core.jobs import QueueCounts
from app.gui.account_page import AccountPage
from app.gui.alert_list import AlertList
from app.gui.connection_page import ConnectionPage
from app.gui.fleet_page import FleetPage
from app.gui.icons import state_icon
from app.gui.monitor_worker import Snapshot
from app.gui.queue_window import QueueWindow
from app.gui.refunds_view import RefundsView
from app.gui.screen_fit import place, scrolling
from app.gui.status_header import StatusHeader
from app.gui.support_view import SupportView, widget_png
from app.runtime import utc_now

# Ages in the window move on between syncs; a slow tick costs nothing when idle.
AGE_TICK_MS = 30_000
PREFERRED = QSize(820, 600)
MINIMUM = QSize(560, 420)
GEOMETRY_SAVE_MS = 1_500  # a drag sends many moves: save once it has stopped


class StatusWindow(QWidget):
    refresh_requested = Signal()
    check_link_requested = Signal()
    settings_requested = Signal()
    dashboard_requested = Signal()
    summary_requested = Signal()
    geometry_changed = Signal(object)  # [x, y, width, height], for the worker to remember
    closed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Booth Credit Monitor")
        self.setWindowIcon(state_icon(Condition.NOT_CURRENT))
        place(self, PREFERRED, MINIMUM)
        self._snapshot: Snapshot | None = None
        self._queue: QueueCounts | None = None
        self._placed_from_memory = False

        self.header = StatusHeader()
        self.balance, self.age, self.state = (self.header.balance, self.header.age,
                                              self.header.state)
        self.last_alert = self.header.last_alert
        self.account_page = AccountPage()
        self.activity = self.account_page.activity
        self.queue_view = QueueWindow()
        self.connection = ConnectionPage()
        self.connection.check_link_requested.connect(self.check_link_requested.emit)
        self.refunds_view = RefundsView()
        self.support_view = SupportView()
        self.support_view.balance_png = lambda: widget_png(self.header)  # the dispute's picture
        self.fleet_page = FleetPage()
        self.alerts = AlertList()
        self.tabs = QTabWidget()
        # Each page scrolls on its own when the screen is too small for it (1280 x 720 at
        # 200% leaves about 300 logical pixels): the header, tabs and buttons stay put.
        for page, title in ((self.account_page, "Account"), (self.queue_view, "AI jobs"),
                            (self.connection, "Connection"), (self.refunds_view, "Refund claims"),
                            (self.support_view, "Support requests"), (self.fleet_page, "Fleet"),
                            (self.alerts, "Alerts")):
            self.tabs.addTab(scrolling(page), title)
        self._alerts_tab = self.tabs.count() - 1
        self.alerts.changed.connect(self._alert_count)
        self.alerts.newest_changed.connect(self.header.show_newest_alert)
        self.header.alerts_requested.connect(lambda: self.tabs.setCurrentIndex(self._alerts_tab))

        buttons = QHBoxLayout()
        self.refresh_button = QPushButton("Refresh now")
        self.refresh_button.clicked.connect(self.refresh_requested.emit)
        summary = QPushButton("Event summary…")
        summary.clicked.connect(self.summary_requested.emit)
        settings = QPushButton("Settings…")
        settings.clicked.connect(self.settings_requested.emit)
        dashboard = QPushButton("Cloud dashboard")
        dashboard.setToolTip("Open the cloud dashboard in the browser")
        dashboard.clicked.connect(self.dashboard_requested.emit)
        for button in (self.refresh_button, summary, settings, dashboard):
            buttons.addWidget(button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(buttons)

        self._tick = QTimer(self)
        self._tick.setInterval(AGE_TICK_MS)
        self._tick.timeout.connect(self._render)
        self._geometry_timer = QTimer(self)
        self._geometry_timer.setSingleShot(True)
        self._geometry_timer.setInterval(GEOMETRY_SAVE_MS)
        self._geometry_timer.timeout.connect(self._emit_geometry)

    # -- what the workers send ------------------------------------------------------------------

    def set_snapshot(self, snap: Snapshot) -> None:
        first = self._snapshot is None
        self._snapshot = snap
        if first and snap.window_geometry and not self._placed_from_memory:
            self._placed_from_memory = True
            x, y, w, h = snap.window_geometry
            place(self, PREFERRED, MINIMUM, QRect(x, y, w, h))
        # The guard's traps ride in the same Snapshot: a trap's alert stays listed while it lasts.
        self.alerts.set_active("guard", {f"trap:{t.key}" for t in snap.traps})
        self.alerts.set_active("monitor", set(snap.alert_keys))
        self.alerts.refresh(snap.lasting_alerts)
        self._render()
        self.account_page.show_entries(snap.recent)

    def set_queue(self, counts: QueueCounts, notice_keys: set[str]) -> None:
        self._queue = counts
        self.alerts.set_active("queue", notice_keys)
        self._render()

    def show_alert(self, alert: Alert) -> None:
        self.alerts.add(alert)

    def set_checking_link(self, checking: bool) -> None:
        self.connection.set_checking(checking)

    # -- Qt events ------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        self._render()
        self._tick.start()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self._tick.stop()
        super().hideEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._emit_geometry()
        self.closed.emit()
        super().closeEvent(event)

    def moveEvent(self, event: QMoveEvent) -> None:
        super().moveEvent(event)
        if self.isVisible():
            self._geometry_timer.start()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.isVisible():
            self._geometry_timer.start()

    # -- drawing --------------------------------------------------------------------------------

    def _emit_geometry(self) -> None:
        if self.isVisible():
            pos, size = self.pos(), self.size()
            self.geometry_changed.emit([pos.x(), pos.y(), size.width(), size.height()])

    def _alert_count(self, count: int) -> None:
        self.tabs.setTabText(self._alerts_tab, f"Alerts ({count})" if count else "Alerts")
        self.header.show_alert_count(count)

    def _render(self) -> None:
        snap = self._snapshot
        if snap is None:
            return
        now = utc_now()
        view = snap.view()
        found = snap.assess(self._queue)
        self.setWindowIcon(state_icon(found.worst))
        # A forecast with no recent pace says nothing: the photos left from older history then.
        ahead = snap.forecast.text(now) if snap.forecast else ""
        self.header.show_assessment(
            found, forecast=ahead or photos_left_text(view.balance_cents, snap.recent, now),
            syncing=snap.syncing)
        self.refresh_button.setEnabled(not snap.syncing)
        self.account_page.show_view(view, now)
        self.connection.show_snapshot(snap, found, now)
        self.queue_view.set_link(view)

