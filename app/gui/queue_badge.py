"""The tray icon's pending-count badge: a red dot with the number of photos not finished yet."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

from app.core.job_notices import badge_text
from app.core.jobs import QueueCounts

SIZE = 64


def badge_icon(base: QIcon, counts: QueueCounts) -> QIcon:
    """`base` with the open-job count drawn in its lower right corner ('' count: unchanged)."""
    text = badge_text(counts)
    if not text:
        return base
    pixmap = base.pixmap(SIZE, SIZE)
    if pixmap.isNull():
        pixmap = QPixmap(SIZE, SIZE)
        pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    width = SIZE * (0.5 if len(text) == 1 else 0.62 if len(text) == 2 else 0.8)
    rect = QRectF(SIZE - width, SIZE * 0.5, width, SIZE * 0.5)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#d32f2f"))
    painter.drawRoundedRect(rect, SIZE * 0.25, SIZE * 0.25)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(SIZE * 0.36))
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return QIcon(pixmap)


def tooltip_line(counts: QueueCounts) -> str:
    """One line for the tray tooltip ('' when nothing is queued)."""
    if counts.pause is not None:
        return f"AI jobs paused, {counts.open} waiting: {counts.pause.message}"
    return f"{counts.open} AI photo{'s' if counts.open != 1 else ''} queued" if counts.open else ""
