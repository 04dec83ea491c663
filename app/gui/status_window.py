"""The window: the same facts as the tray, with room for the account and recent activity.
It is the whole UI where no system tray exists."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.alerts import Alert
from app.core.bandwidth import link_text
from app.core.model import FEATURE_LABELS, Feature, LedgerEntry, PaymentMethod
from app.core.money import dollars
from app.core.status import StatusView, age_text
from app.core.tray_state import TrayState, attention_reasons, tray_state
from app.gui.bandwidth_chart import BandwidthChart, points_from_results
from app.gui.icons import COLOURS, state_icon
from app.gui.monitor_worker import LINK_HOURS, Snapshot
from app.gui.queue_window import QueueWindow
from app.gui.refunds_view import RefundsView
from app.runtime import utc_now

STATE_WORDS = {
    TrayState.OK: "OK",
    TrayState.LOW: "LOW BALANCE",
    TrayState.STALE: "NOT CURRENT",
    TrayState.SLOW_LINK: "SLOW LINK",
    TrayState.ATTENTION: "NEEDS ATTENTION",
}
# Ages in the window move on between syncs; a slow tick costs nothing when idle.
AGE_TICK_MS = 30_000
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class StatusWindow(QWidget):
    refresh_requested = Signal()
    check_link_requested = Signal()
    settings_requested = Signal()
    dashboard_requested = Signal()
    closed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Booth Credit Monitor")
        self.setWindowIcon(state_icon(TrayState.OK))
        self.resize(760, 620)
        self._snapshot: Snapshot | None = None
        self._alerts: list[str] = []  # the last few notifications, newest first
        # What the widgets were last built from: rebuilding a 50-row table and the account form
        # on every sync would be most of the app's idle CPU.
        self._shown_entries: tuple[str, ...] = ()
        self._shown_account: tuple[object, ...] | None = None

        self.balance = QLabel("—")
        self.balance.setObjectName("balance")
        self.age = QLabel("")
        self.state = QLabel("")
        self.state.setObjectName("statePill")
        self.problems = QLabel("")
        self.problems.setWordWrap(True)
        self.problems.setObjectName("problems")
        self.last_alert = QLabel("")
        self.last_alert.setWordWrap(True)

        head = QHBoxLayout()
        numbers = QVBoxLayout()
        numbers.addWidget(self.balance)
        numbers.addWidget(self.age)
        head.addLayout(numbers, 1)
        head.addWidget(self.state, 0, Qt.AlignmentFlag.AlignTop)

        self.account_box = QGroupBox("Account")
        self.account_form = QFormLayout(self.account_box)

        self.activity = QTableWidget(0, 5)
        self.activity.setHorizontalHeaderLabels(["When", "What", "Feature", "Amount", "Balance"])
        self.activity.verticalHeader().setVisible(False)
        self.activity.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.activity.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

        buttons = QHBoxLayout()
        self.refresh_button = QPushButton("Refresh now")
        self.refresh_button.clicked.connect(self.refresh_requested.emit)
        settings = QPushButton("Settings…")
        settings.clicked.connect(self.settings_requested.emit)
        dashboard = QPushButton("Open the cloud dashboard")
        dashboard.clicked.connect(self.dashboard_requested.emit)
        for button in (self.refresh_button, settings, dashboard):
            buttons.addWidget(button)
        buttons.addStretch(1)

        overview = QWidget()
        page = QVBoxLayout(overview)
        page.addWidget(self.account_box)
        page.addWidget(QLabel("Recent activity (usage history)"))
        page.addWidget(self.activity, 1)
        # Balance, state and alerts stay above the tabs: whatever tab is open, they show.
        self.tabs = QTabWidget()
        self.tabs.addTab(overview, "Account")
        self.queue_view = QueueWindow()
        self.tabs.addTab(self.queue_view, "AI jobs")
        self.tabs.addTab(self._connection_page(), "Connection")
        self.refunds_view = RefundsView()
        self.tabs.addTab(self.refunds_view, "Refund claims")
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.problems)
        layout.addWidget(self.last_alert)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(buttons)

        self._tick = QTimer(self)
        self._tick.setInterval(AGE_TICK_MS)
        self._tick.timeout.connect(self._render)

    def _connection_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.link_line = QLabel("Connection not checked yet")
        self.link_line.setWordWrap(True)
        self.link_cost = QLabel("")
        self.chart = BandwidthChart(hours=LINK_HOURS)
        self.check_link_button = QPushButton("Check connection now")
        self.check_link_button.clicked.connect(self.check_link_requested.emit)
        layout.addWidget(self.link_line)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.link_cost)
        row = QHBoxLayout()
        row.addWidget(self.check_link_button)
        row.addStretch(1)
        layout.addLayout(row)
        return page

    def set_checking_link(self, checking: bool) -> None:
        self.check_link_button.setEnabled(not checking)
        self.check_link_button.setText("Checking…" if checking else "Check connection now")

    def set_snapshot(self, snap: Snapshot) -> None:
        self._snapshot = snap
        self._render()
        threshold = float(snap.settings.preflight_threshold_mbps)
        self.chart.set_points(points_from_results(snap.link_history), threshold)
        line = link_text(snap.link, utc_now())
        if snap.link is not None and snap.link.reason:
            line += f" — {snap.link.reason}"
        self.link_line.setText(f"{line}. AI jobs need {threshold:g} Mbps up and down.")
        self.link_cost.setText(f"Data used by connection checks today: "
                               f"{snap.probe_bytes_today / 1e6:.1f} MB")
        ids = tuple(entry.id for entry in snap.recent)
        if ids != self._shown_entries:
            self._shown_entries = ids
            self._fill_activity(snap.recent)

    def show_alert(self, alert: Alert) -> None:
        stamp = utc_now().astimezone().strftime("%H:%M")
        self._alerts = [f"{stamp} <b>{alert.title}</b>: {alert.message}", *self._alerts][:3]
        self.last_alert.setText("<br>".join(self._alerts))

    def showEvent(self, event: QShowEvent) -> None:
        self._render()
        self._tick.start()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self._tick.stop()
        super().hideEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closed.emit()
        super().closeEvent(event)

    def _render(self) -> None:
        if self._snapshot is None:
            return
        view = self._snapshot.view()
        state = tray_state(view, self._snapshot.link_slow())
        self.setWindowIcon(state_icon(state))
        self.balance.setText(view.balance_text())
        self.age.setText(age_text(view.as_of, utc_now())
                         + (" — offline, last confirmed figure" if view.offline else "")
                         + (" — refreshing…" if self._snapshot.syncing else ""))
        self.state.setText(STATE_WORDS[state])
        self.state.setStyleSheet(f"background:{COLOURS[state]};")
        self.refresh_button.setEnabled(not self._snapshot.syncing)
        issues = attention_reasons(view)
        if view.last_error:
            issues.append(view.last_error)
        if view.low_balance:
            issues.append(f"Balance below {dollars(view.low_balance_cents)}: buy credits before "
                          "the booths run dry.")
        self.problems.setText("\n".join(f"• {line}" for line in issues))
        self.problems.setVisible(bool(issues))
        self._fill_account(view)

    def _fill_account(self, view: StatusView) -> None:
        key = (view.account, view.cloud_url)
        if key == self._shown_account:
            return
        self._shown_account = key
        while self.account_form.rowCount():
            self.account_form.removeRow(0)
        acct = view.account
        if acct is None:
            self.account_form.addRow("Cloud", QLabel(view.cloud_url or "(not set)"))
            return
        rows = [
            ("Email", acct.email),
            ("Plan", f"{acct.plan.value.replace('_', '-')} ({acct.status.value})"),
            ("Pays renewals with", "credits: renewals drain the AI balance"
             if acct.primary_payment_method is PaymentMethod.CREDITS else "card"),
            ("Renews", _day(acct.renews_at)),
            ("Grace period ends", _day(acct.grace_ends_at)),
            ("Cloud", view.cloud_url),
        ]
        for label, value in rows:
            if value:
                self.account_form.addRow(label, QLabel(value))

    def _fill_activity(self, entries: list[LedgerEntry]) -> None:
        self.activity.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            feature = entry.feature or ""
            if feature in Feature._value2member_map_:
                feature = FEATURE_LABELS[Feature(feature)]
            cells = [
                entry.timestamp.astimezone().strftime("%d %b %H:%M"),
                entry.kind.value.replace("_", " "),
                feature,
                dollars(entry.amount_cents),
                dollars(entry.balance_after_cents),
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col >= 3:
                    item.setTextAlignment(RIGHT)
                self.activity.setItem(row, col, item)


def _day(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%d %b %Y") if moment else ""
