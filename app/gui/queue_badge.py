"""The tray icon's pending-count badge: a red tag with the number of photos not finished yet.

Drawn separately at every tray size instead of scaled down from one large pixmap: at 16-24 px a
scaled digit is two or three blurred pixels tall ("3" reads as "J"). Small sizes get a larger
share of the icon and fewer characters ("9+"), so the digit stays at least 7 px tall.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen, QPixmap

from app.core.conditions import Condition
from app.core.job_notices import badge_text
from app.core.jobs import QueueCounts
from app.gui.icons import SIZES, draw_state, state_icon

BADGE_RED = "#c62828"
BADGE_DARK = "#1f2937"  # on the red "needs attention" disc a red tag would vanish


def badge_icon(condition: Condition, counts: QueueCounts) -> QIcon:
    """The condition's icon with the open-job count in its lower right corner."""
    text = badge_text(counts)
    return _badged(condition, text) if text else state_icon(condition)


@lru_cache(maxsize=256)
def _badged(condition: Condition, text: str) -> QIcon:
    icon = QIcon()
    for size in SIZES:
        icon.addPixmap(draw_badge(condition, text, size))
    return icon


def fit_text(text: str, size: int) -> str:
    """What fits legibly at this icon size: two characters below 32 px ("9+"), three above."""
    most = 2 if size < 32 else 3
    return text if len(text) <= most else {2: "9+", 3: "99+"}[most]


def badge_rect(text: str, size: int) -> QRectF:
    height = size * (0.62 if size <= 24 else 0.52)
    width = max(height, height * (0.62 + 0.38 * len(text))) if len(text) > 1 else height
    width = min(width, float(size))
    return QRectF(size - width, size - height, width, height)


def draw_badge(condition: Condition, text: str, size: int) -> QPixmap:
    pix = draw_state(condition, size, scale=0.84 if size <= 24 else 0.92)
    shown = fit_text(text, size)
    rect = badge_rect(shown, size)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    # A dark ring keeps the tag apart from the state disc under it, whatever its colour.
    painter.setPen(QPen(QColor("#1c1c1c"), max(1.0, size / 20)))
    painter.setBrush(QColor(BADGE_DARK if condition is Condition.NEEDS_ATTENTION else BADGE_RED))
    painter.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), rect.height() / 2,
                            rect.height() / 2)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(9, round(rect.height() * (0.95 if len(shown) < 3 else 0.78))))
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, shown)
    painter.end()
    return pix
