"""Tray icons drawn at run time: one colour and one mark per condition (app.core.conditions),
so the state reads at a glance even on a 16 px tray, and in greyscale. The queue's count badge
is drawn on top by queue_badge.py."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen, QPixmap

from app.core.conditions import LOOKS, Condition

SIZES = (16, 20, 22, 24, 32, 40, 48, 64)


@lru_cache(maxsize=64)
def state_icon(condition: Condition) -> QIcon:
    icon = QIcon()
    for size in SIZES:
        icon.addPixmap(draw_state(condition, size))
    return icon


def draw_state(condition: Condition, size: int, scale: float = 1.0) -> QPixmap:
    """The condition's disc; `scale` < 1 draws it smaller in the top-left corner, leaving room
    for a badge without hiding the colour."""
    look = LOOKS[condition]
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    margin = size * 0.06
    side = (size - 2 * margin) * scale
    disc = QRectF(margin, margin, side, side)
    p.setPen(QPen(QColor("#1c1c1c"), max(1.0, size / 24)))
    p.setBrush(QColor(look.colour))
    p.drawEllipse(disc)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(side * 0.66))
    p.setFont(font)
    p.setPen(QColor("white"))
    p.drawText(disc, Qt.AlignmentFlag.AlignCenter, look.symbol)
    p.end()
    return pix
