"""Window sizes that fit the booth PC's screen: small laptops at 125-150% scaling have as little
as 850 x 450 logical pixels, so a fixed size opens with its buttons below the screen."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QScrollArea, QWidget

# Leave room for the window frame and title bar, which Qt's geometry does not include.
FRAME = QSize(16, 40)


def available() -> QRect:
    screen = QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else QRect(0, 0, 1024, 600)


def fit_size(preferred: QSize, minimum: QSize, area: QRect | None = None) -> QSize:
    """`preferred`, shrunk to the screen but never below `minimum` (itself shrunk to the
    screen, so a dialog is never larger than the screen whatever its content wants)."""
    area = area or available()
    room = QSize(max(200, area.width() - FRAME.width()), max(200, area.height() - FRAME.height()))
    low = minimum.boundedTo(room)
    return preferred.boundedTo(room).expandedTo(low)


def clamp(rect: QRect, area: QRect | None = None) -> QRect:
    """A remembered geometry moved and shrunk onto the current screen (the PC may have been
    plugged into a larger monitor last time)."""
    area = area or available()
    size = rect.size().boundedTo(QSize(area.width() - FRAME.width(),
                                       area.height() - FRAME.height()))
    x = min(max(rect.x(), area.left()), area.right() - size.width() - FRAME.width() + 1)
    y = min(max(rect.y(), area.top()), area.bottom() - size.height() - FRAME.height() + 1)
    return QRect(QPoint(max(area.left(), x), max(area.top(), y)), size)


def place(widget: QWidget, preferred: QSize, minimum: QSize,
          remembered: QRect | None = None) -> None:
    """Size and position a top-level widget for the current screen."""
    area = available()
    widget.setMinimumSize(minimum.boundedTo(QSize(area.width() - FRAME.width(),
                                                  area.height() - FRAME.height())))
    if remembered is not None and remembered.isValid():
        rect = clamp(remembered, area)
        widget.resize(rect.size().expandedTo(widget.minimumSize()))
        widget.move(rect.topLeft())
        return
    size = fit_size(preferred, minimum, area)
    widget.resize(size)
    centre = area.center()
    widget.move(QPoint(max(area.left(), centre.x() - size.width() // 2),
                       max(area.top(), centre.y() - (size.height() + FRAME.height()) // 2)))


def scrolling(page: QWidget) -> QScrollArea:
    """`page` at its natural size where there is room, scrollable where there is not."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(page)
    return area
