"""A small chart of measured rate over the last hours, with the threshold line AI jobs need.

Painted with QPainter (no chart library): a few dozen points a day do not need one. Dots are
coloured by verdict, so a glance tells whether the venue link has been good enough; an offline
check is a grey cross on the baseline, and the line breaks there. Readings taken from the
photos' own transfers (passive, no byte spent) are their own kinds, off the line: hollow diamonds
for photo uploads, hollow down-pointing triangles for result downloads (a fast uplink says
nothing about a slow downlink, and the job path reuses each direction on its own), with a
legend naming whichever of them is on the chart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from app.core.bandwidth import PreflightResult
from app.core.bandwidth_passive import PassiveReading

Point = tuple[datetime, "float | None"]  # (measured at, Mbps or None when offline)

OK_COLOR = QColor("#2b8a3e")
MARGINAL_COLOR = QColor("#e8a200")
SLOW_COLOR = QColor("#c92a2a")
OFFLINE_COLOR = QColor("#868e96")
THRESHOLD_COLOR = QColor("#d9480f")
LINE_COLOR = QColor("#1c7ed6")


def points_from_results(results: Iterable[PreflightResult], direction: str = "up") -> list[Point]:
    key = "upload_mbps" if direction == "up" else "download_mbps"
    return [(r.measured_at, getattr(r, key)) for r in results]


def passive_points(readings: Iterable[PassiveReading], direction: str) -> list[Point]:
    """The photos' own transfers of one direction ("up" uploads, "down" result downloads)."""
    return [(r.measured_at, r.mbps) for r in readings if r.direction == direction]


class RateScale:
    """Where a rate goes on the chart's y axis. Linear while the readings stay within a few
    times the threshold; logarithmic beyond, so a 300 Mbps office line and a 1.5 Mbps venue
    link share one chart without 1.5 looking like 5."""

    def __init__(self, rates: Sequence[float], threshold: float):
        top = nice_ceiling(max([threshold * 2, *(r * 1.15 for r in rates)]))
        self.log = top > threshold * 8
        low = min([threshold / 10, *(r / 1.5 for r in rates if r > 0)])
        self.low = 10 ** math.floor(math.log10(max(low, 0.01))) if self.log else 0.0
        self.top = top

    def share(self, rate: float) -> float:
        """0 at the bottom of the plot, 1 at the top."""
        rate = min(max(rate, self.low), self.top)
        if not self.log:
            return rate / self.top
        span = math.log10(self.top) - math.log10(self.low)
        return (math.log10(max(rate, self.low)) - math.log10(self.low)) / span

    def ticks(self, threshold: float) -> list[float]:
        """Axis labels; the threshold gets its own, in its colour."""
        if not self.log:
            marks = [self.top * i / 2 for i in range(3)]
        else:
            marks, value = [self.top], self.low
            while value <= self.top * 1.001:
                marks.append(value)
                value *= 10
        return sorted(set(marks) - {threshold})


def nice_ceiling(value: float) -> float:
    """1, 2, 5 x a power of ten: round axis labels."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


class BandwidthChart(QWidget):
    def __init__(self, parent: QWidget | None = None, *, hours: float = 3.0):
        super().__init__(parent)
        self.hours = hours
        self._points: list[Point] = []
        self._threshold = 5.0
        self._now: datetime | None = None
        self.passive: list[Point] = []
        self.passive_down: list[Point] = []
        self.setMinimumSize(240, 110)
        self.setToolTip("Upload rate measured before AI jobs (dashed: what the jobs need). "
                        "Hollow marks: the photos' own transfers, no data spent "
                        "(diamonds: uploads, triangles: result downloads)")

    def sizeHint(self) -> QSize:
        return QSize(380, 150)

    def set_points(self, points: Sequence[Point], threshold_mbps: float,
                   now: datetime | None = None, passive: Sequence[Point] = (),
                   passive_down: Sequence[Point] = ()) -> None:
        """`now` pins the right edge (tests); by default it is the time of painting.
        `passive`: photo uploads' readings; `passive_down`: result downloads'."""
        self._points = sorted(points, key=lambda p: p[0])
        self.passive = sorted(passive, key=lambda p: p[0])
        self.passive_down = sorted(passive_down, key=lambda p: p[0])
        self._threshold = threshold_mbps
        self._now = now
        self.update()

    # -- geometry -----------------------------------------------------------------------------

    def _plot_rect(self) -> QRectF:
        return QRectF(44, 20, max(10, self.width() - 58), max(10, self.height() - 42))

    def scale(self, visible: list[Point]) -> RateScale:
        return RateScale([m for _, m in visible if m is not None], self._threshold)

    # -- painting -----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        now = self._now or datetime.now(timezone.utc)
        start = now - timedelta(hours=self.hours)
        visible = [p for p in self._points if start <= p[0] <= now]
        passive = [p for p in self.passive if start <= p[0] <= now]
        passive_down = [p for p in self.passive_down if start <= p[0] <= now]
        rect = self._plot_rect()
        scale = self.scale(visible + passive + passive_down)

        def x_of(moment: datetime) -> float:
            share = (moment - start).total_seconds() / (self.hours * 3600)
            return rect.left() + share * rect.width()

        def y_of(rate: float) -> float:
            return rect.bottom() - scale.share(rate) * rect.height()

        self._axes(painter, rect, scale, y_of)
        threshold_y = y_of(self._threshold)
        self._threshold_line(painter, rect, threshold_y)
        for moment, rate in passive:
            self._diamond(painter, QPointF(x_of(moment), y_of(rate or 0.0)),
                          self._color(rate or 0.0))
        for moment, rate in passive_down:
            self._triangle(painter, QPointF(x_of(moment), y_of(rate or 0.0)),
                           self._color(rate or 0.0))
        self._legend(painter, rect, bool(passive), bool(passive_down))
        if not visible and not passive and not passive_down:
            # In the band above the threshold line, never across it.
            band = QRectF(rect.left(), rect.top(), rect.width(),
                          max(16.0, threshold_y - rect.top() - 18))
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(band, Qt.AlignmentFlag.AlignCenter,
                             f"No connection checks in the last {self.hours:g} h")
            painter.end()
            return
        path = QPainterPath()
        pen_down = False
        for moment, rate in visible:
            if rate is None:
                pen_down = False
                continue
            point = QPointF(x_of(moment), y_of(rate))
            if pen_down:
                path.lineTo(point)
            else:
                path.moveTo(point)
                pen_down = True
        painter.setPen(QPen(LINE_COLOR, 1.5))
        painter.drawPath(path)
        for moment, rate in visible:
            self._marker(painter, QPointF(x_of(moment), y_of(rate or 0.0)), rate)
        painter.end()

    def _axes(self, painter: QPainter, rect: QRectF, scale: RateScale, y_of) -> None:
        grid = QPen(self.palette().mid().color(), 0.6, Qt.PenStyle.DotLine)
        text = self.palette().text().color()
        threshold_y = y_of(self._threshold)
        for value in scale.ticks(self._threshold):
            y = y_of(value)
            if abs(y - threshold_y) < 14:
                continue  # the threshold's own label sits there
            painter.setPen(grid)
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            painter.setPen(text)
            painter.drawText(QRectF(0, y - 8, rect.left() - 4, 16),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             f"{value:g}")
        painter.drawText(QRectF(0, 0, rect.left() + 20, 14), Qt.AlignmentFlag.AlignRight,
                         "Mbps")
        hours = max(1, math.ceil(self.hours))
        for i in range(hours + 1):
            x = rect.left() + rect.width() * i / hours
            label = "now" if i == hours else f"-{(hours - i) * self.hours / hours:g} h"
            # The end labels lean inward so they are never clipped at the widget's edges.
            flag = Qt.AlignmentFlag
            if i == 0:
                left, align = x - 8, flag.AlignLeft
            elif i == hours:
                left, align = x - 52, flag.AlignRight
            else:
                left, align = x - 30, flag.AlignHCenter
            box = QRectF(left, rect.bottom() + 3, 60, 16)
            painter.drawText(box, align, label)

    def _threshold_line(self, painter: QPainter, rect: QRectF, y: float) -> None:
        painter.setPen(QPen(THRESHOLD_COLOR, 1.5, Qt.PenStyle.DashLine))
        painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        painter.drawText(QRectF(rect.left() + 4, y - 16, rect.width() - 8, 14),
                         Qt.AlignmentFlag.AlignLeft, f"{self._threshold:g} Mbps needed")
        painter.drawText(QRectF(0, y - 8, rect.left() - 4, 16),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         f"{self._threshold:g}")

    def _diamond(self, painter: QPainter, at: QPointF, color: QColor) -> None:
        painter.setPen(QPen(color, 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        corners = [QPointF(0, -4.5), QPointF(4.5, 0), QPointF(0, 4.5), QPointF(-4.5, 0)]
        painter.drawPolygon(QPolygonF([at + c for c in corners]))

    def _triangle(self, painter: QPainter, at: QPointF, color: QColor) -> None:
        painter.setPen(QPen(color, 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        corners = [QPointF(-5, -4), QPointF(5, -4), QPointF(0, 5)]
        painter.drawPolygon(QPolygonF([at + c for c in corners]))

    def _legend(self, painter: QPainter, rect: QRectF, up: bool, down: bool) -> None:
        """Top right, above the plot: names only the kinds of mark that are on the chart."""
        items = [(self._diamond, "photo up")] if up else []
        items += [(self._triangle, "result down")] if down else []
        metrics = painter.fontMetrics()
        text = self.palette().text().color()
        right = rect.right()
        painter.save()
        for draw, label in reversed(items):
            width = metrics.horizontalAdvance(label)
            painter.setPen(text)
            painter.drawText(QRectF(right - width, 2, width + 2, 14), Qt.AlignmentFlag.AlignLeft,
                             label)
            draw(painter, QPointF(right - width - 9, 9), text)
            right -= width + 24
        painter.restore()

    def _color(self, rate: float) -> QColor:
        if rate >= self._threshold * 1.1:
            return OK_COLOR
        if rate < self._threshold * 0.9:
            return SLOW_COLOR
        return MARGINAL_COLOR

    def _marker(self, painter: QPainter, at: QPointF, rate: float | None) -> None:
        if rate is None:
            painter.setPen(QPen(OFFLINE_COLOR, 2))
            painter.drawLine(at + QPointF(-4, -4), at + QPointF(4, 4))
            painter.drawLine(at + QPointF(-4, 4), at + QPointF(4, -4))
            return
        if rate >= self._threshold * 1.1:
            color = OK_COLOR
        elif rate < self._threshold * 0.9:
            color = SLOW_COLOR
        else:
            color = MARGINAL_COLOR
        painter.setPen(QPen(color.darker(130), 1))
        painter.setBrush(color)
        painter.drawEllipse(at, 3.5, 3.5)
