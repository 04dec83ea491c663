"""The Account tab: who the account is, what its plan will do next, and the usage history."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.model import (
    Account,
    AccountStatus,
    LedgerEntry,
    PaymentMethod,
    feature_label,
)
from app.core.money import dollars
from app.core.status import StatusView
from app.gui.status_header import ElidedLabel

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
MIN_TABLE_ROWS = 3


def plan_rows(account: Account, now: datetime) -> list[tuple[str, str]]:
    """The plan's dates as its status makes them true: an expired plan does not 'renew'."""
    status = account.status
    plan = account.plan.value.replace("_", "-")
    rows = [("Plan", f"{plan} ({status.value})")]
    if status is AccountStatus.ACTIVE:
        if account.renews_at is not None:
            by = ("from your AI credits" if account.primary_payment_method is
                  PaymentMethod.CREDITS else "by card")
            rows.append(("Renews", f"{_day(account.renews_at)}, paid {by}"))
    elif status is AccountStatus.SUSPENDED:
        rows.append(("Suspended", "a payment failed; reactivate it to keep the credits"))
    elif status is AccountStatus.EXPIRED and account.expires_at is not None:
        rows.append(("Expired", _day(account.expires_at)))
    if status in (AccountStatus.SUSPENDED, AccountStatus.EXPIRED) and account.grace_ends_at:
        days = max(0, (account.grace_ends_at - now).days)
        rows.append(("Grace period ends", f"{_day(account.grace_ends_at)} ({days} days): "
                     "downgrade to Pay-As-You-Go before then to keep the credits"))
    if status is AccountStatus.CLOSED:
        # The guard files the restore request itself; the header says when (one voice).
        rows.append(("Closed", "credits removed; the monitor asks support to restore them"))
    return rows


class AccountPage(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        # What the widgets were last built from: rebuilding a 50-row table and the account
        # form on every sync would be most of the app's idle CPU.
        self._shown_entries: tuple[str, ...] = ()
        self._shown_account: tuple[object, ...] | None = None
        self.account_box = QGroupBox("Account")
        self.account_form = QFormLayout(self.account_box)
        self.account_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.account_form.setVerticalSpacing(2)
        self.account_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.activity = QTableWidget(0, 5)
        self.activity.setHorizontalHeaderLabels(["When", "What", "Feature", "Amount", "Balance"])
        self.activity.verticalHeader().setVisible(False)
        self.activity.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.activity.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        rows = self.activity.verticalHeader().defaultSectionSize()
        self.activity.setMinimumHeight(header.sizeHint().height() + MIN_TABLE_ROWS * rows)
        layout = QVBoxLayout(self)
        layout.addWidget(self.account_box)
        layout.addWidget(QLabel("Recent activity (usage history of every booth)"))
        layout.addWidget(self.activity, 1)

    def show_view(self, view: StatusView, now: datetime) -> None:
        key = (view.account, view.cloud_url, now.date())
        if key == self._shown_account:
            return
        self._shown_account = key
        while self.account_form.rowCount():
            self.account_form.removeRow(0)
        acct = view.account
        rows = [("Cloud", view.cloud_url or "(not set)")]
        if acct is not None:
            rows = [("Email", acct.email), *plan_rows(acct, now), *rows]
        for label, value in rows:
            # One line each, ending in "…" when narrow (the whole text is the tooltip): a
            # wrapped value squeezed by the table below would be cut in half.
            self.account_form.addRow(label, ElidedLabel(value))

    def show_entries(self, entries: list[LedgerEntry]) -> None:
        ids = tuple(entry.id for entry in entries)
        if ids == self._shown_entries:
            return
        self._shown_entries = ids
        self.activity.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            feature = feature_label(entry.feature) if entry.feature else ""
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


def _day(moment: datetime) -> str:
    return moment.astimezone().strftime("%d %b %Y")
