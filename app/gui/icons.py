"""Tray icons drawn at run time: one colour per state, so the state reads at a glance even on a
16 px tray, and in greyscale (each state also has its own mark). The queue's count badge is
drawn on top by queue_badge.py."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen, QPixmap

from app.core.tray_state import TrayState

COLOURS = {
    TrayState.OK: "#2e9d4f",
    TrayState.LOW: "#e0a100",
    TrayState.STALE: "#8a8f98",
    TrayState.SLOW_LINK: "#7a4fc9",
    TrayState.ATTENTION: "#d93a2f",
}
# A mark inside the disc so colour-blind operators and greyscale trays still tell states apart.
MARKS = {TrayState.OK: "$", TrayState.LOW: "¢", TrayState.STALE: "?",
         TrayState.SLOW_LINK: "~", TrayState.ATTENTION: "!"}


@lru_cache(maxsize=64)
def state_icon(state: TrayState) -> QIcon:
    icon = QIcon()
    for size in (16, 22, 32, 48, 64):
        icon.addPixmap(_draw(state, size))
    return icon


def _draw(state: TrayState, size: int) -> QPixmap:
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    margin = size * 0.06
    disc = QRectF(margin, margin, size - 2 * margin, size - 2 * margin)
    p.setPen(QPen(QColor("#1c1c1c"), max(1.0, size / 24)))
    p.setBrush(QColor(COLOURS[state]))
    p.drawEllipse(disc)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(size * 0.62))
    p.setFont(font)
    p.setPen(QColor("white"))
    p.drawText(disc, Qt.AlignmentFlag.AlignCenter, MARKS[state])
    p.end()
    return pix
