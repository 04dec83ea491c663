"""The top of the window: what the operator reads in two seconds.

A chip per active condition (worst first, in the words and colours of app.core.conditions), the
balance with the age of its last confirmation, how many photos it pays for, the worst
condition's sentence, and the newest alert. Every line has a fixed height and elides instead
of wrapping, so nothing below it (the tabs) ever moves when conditions or alerts come and go.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from app.core.conditions import LOOKS, Assessment

MAX_CHIPS = 4


class ElidedLabel(QLabel):
    """One line that ends in '…' when it does not fit; the whole text is in the tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def minimumSizeHint(self) -> QSize:
        # Any width will do: the text elides. Without this the label asks for its full text
        # width, and a long line would make the whole window wider than a small screen.
        return QSize(20, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        return QSize(min(super().sizeHint().width(), 400), super().sizeHint().height())

    def setText(self, text: str) -> None:
        self._full = text
        self.setToolTip(text if text else "")
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(20, self.width())
        shown = QFontMetrics(self.font()).elidedText(self._full, Qt.TextElideMode.ElideRight,
                                                     width)
        super().setText(shown)


class StatusHeader(QWidget):
    alerts_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.chips = [QLabel("") for _ in range(MAX_CHIPS)]
        for chip in self.chips:
            chip.setObjectName("statePill")
            chip.hide()
        self.state = self.chips[0]  # the worst condition: what the icon shows too
        self.balance = QLabel("—")
        self.balance.setObjectName("balance")
        self.age = ElidedLabel("")
        self.forecast = ElidedLabel("")
        self.line = ElidedLabel("")
        self.line.setObjectName("conditionLine")
        self.last_alert = ElidedLabel("")
        self.alerts_button = QPushButton("Alerts")
        self.alerts_button.setFlat(True)
        self.alerts_button.clicked.connect(self.alerts_requested.emit)

        # One row: the balance, its age and forecast, then the condition chips on the right.
        top = QHBoxLayout()
        top.addWidget(self.balance)
        top.addSpacing(12)
        facts = QVBoxLayout()
        facts.setSpacing(0)
        facts.addWidget(self.age)
        facts.addWidget(self.forecast)
        top.addLayout(facts, 1)
        for chip in self.chips:
            top.addWidget(chip, 0, Qt.AlignmentFlag.AlignTop)
        alert_row = QHBoxLayout()
        alert_row.addWidget(self.last_alert, 1)
        alert_row.addWidget(self.alerts_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.line)
        layout.addLayout(alert_row)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def show_assessment(self, found: Assessment, *, forecast: str, syncing: bool) -> None:
        self.balance.setText(found.balance)
        self.age.setText(found.age + (" — refreshing…" if syncing else ""))
        self.forecast.setText(forecast)
        distinct = list(dict.fromkeys(f.condition for f in found.findings))
        for chip, condition in zip(self.chips, [*distinct, *[None] * MAX_CHIPS], strict=False):
            chip.setVisible(condition is not None)
            if condition is not None:
                look = LOOKS[condition]
                chip.setText(look.words)
                chip.setStyleSheet(f"background:{look.colour};")
        # The worst condition's sentence; every active one is in the tooltip (and the menu).
        self.line.setText(found.findings[0].line)
        self.line.setToolTip("\n".join(f.line for f in found.findings))

    def show_alert_count(self, count: int) -> None:
        self.alerts_button.setText(f"Alerts ({count})" if count else "Alerts")

    def show_newest_alert(self, text: str) -> None:
        self.last_alert.setText(text or "No alerts.")
