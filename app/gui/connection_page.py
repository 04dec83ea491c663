"""The Connection tab: the link as the last checks saw it, and the technical details.

The menu and the header speak in operator words; the exact errors (host, HTTP status, which
part of the app met them) are here and in the log, for whoever troubleshoots the venue network.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.core.conditions import Assessment, link_line
from app.core.status import StatusView, clock_text
from app.gui.bandwidth_chart import BandwidthChart, passive_points, points_from_results
from app.gui.monitor_worker import LINK_HOURS, Snapshot

SOURCES = {"sync": "the balance refresh", "jobs": "an AI job", "probe": "a connection check"}


class ConnectionPage(QWidget):
    check_link_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.link_line = QLabel("Connection not checked yet")
        self.link_line.setWordWrap(True)
        self.link_cost = QLabel("")
        self.chart = BandwidthChart(hours=LINK_HOURS)
        self.check_link_button = QPushButton("Check connection now")
        self.check_link_button.clicked.connect(self.check_link_requested.emit)
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box = QGroupBox("Details")
        inner = QVBoxLayout(box)
        inner.addWidget(self.details)
        layout = QVBoxLayout(self)
        layout.addWidget(self.link_line)
        layout.addWidget(self.chart, 1)
        row = QHBoxLayout()
        row.addWidget(self.link_cost, 1)
        row.addWidget(self.check_link_button)
        layout.addLayout(row)
        layout.addWidget(box)

    def set_checking(self, checking: bool) -> None:
        self.check_link_button.setEnabled(not checking)
        self.check_link_button.setText("Checking…" if checking else "Check connection now")

    def show_snapshot(self, snap: Snapshot, found: Assessment, now: datetime) -> None:
        view = snap.view()
        threshold = float(snap.settings.preflight_threshold_mbps)
        self.chart.set_points(points_from_results(snap.link_history), threshold,
                              passive=passive_points(snap.passive_history, "up"),
                              passive_down=passive_points(snap.passive_history, "down"))
        self.link_line.setText(f"{link_line(snap.link, view, now)}. AI jobs need "
                               f"{threshold:g} Mbps up and down.")
        self.link_cost.setText(f"Data used by connection checks today: "
                               f"{snap.probe_bytes_today / 1e6:.1f} MB")
        self.details.setText(details_text(view, found, snap, now))


def details_text(view: StatusView, found: Assessment, snap: Snapshot, now: datetime) -> str:
    lines = []
    contact = view.contact
    if contact.failing and contact.failing_since is not None:
        who = SOURCES.get(contact.source or "", contact.source or "")
        lines.append(f"Failing since {clock_text(contact.failing_since, now)} ({contact.kind}), "
                     f"last seen by {who}: {contact.message or ''}")
    elif contact.ok_at is not None:
        lines.append(f"Last answer from the cloud: {clock_text(contact.ok_at, now)}")
    lines += [f"{f.look.words}: {f.detail}" for f in found.findings if f.detail]
    if snap.link is not None and snap.link.reason:
        lines.append(f"Last connection check: {snap.link.reason}")
    lines.append(f"Cloud: {view.cloud_url or '(not set)'}")
    return "\n".join(lines)
