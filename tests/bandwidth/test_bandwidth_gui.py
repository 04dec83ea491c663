"""The chart paints what it is given; the worker keeps probes off the GUI thread."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import QThread
from PySide6.QtGui import QColor, QImage

from app.core.bandwidth import (
    CancelFlag,
    PreflightResult,
    ProbeCancelled,
    ProbePolicy,
    Verdict,
)
from app.core.errors import CloudUnreachable
from app.gui.bandwidth_chart import (
    OK_COLOR,
    SLOW_COLOR,
    THRESHOLD_COLOR,
    BandwidthChart,
    RateScale,
    nice_ceiling,
    points_from_results,
)
from app.gui.preflight_worker import PreflightWorker

NOW = datetime(2026, 5, 1, 21, 0, tzinfo=timezone.utc)


def result(minutes_ago: float, up: float | None) -> PreflightResult:
    verdict = ProbePolicy().verdict_for(up)
    return PreflightResult(up, up, verdict, 5.0, 900_000, 800_000, 2.1, "tcp_info_acked",
                           NOW - timedelta(minutes=minutes_ago))


def has_color(image: QImage, color: QColor, tolerance: int = 40) -> bool:
    for y in range(0, image.height(), 1):
        for x in range(0, image.width(), 1):
            pixel = image.pixelColor(x, y)
            if (abs(pixel.red() - color.red()) + abs(pixel.green() - color.green())
                    + abs(pixel.blue() - color.blue())) <= tolerance:
                return True
    return False


def test_chart_shows_rates_threshold_and_verdict_colours(qtbot, tmp_path: Path):
    chart = BandwidthChart(hours=3)
    qtbot.addWidget(chart)
    chart.resize(420, 160)
    history = [result(170, 9.0), result(120, 7.5), result(90, None), result(60, 3.1),
               result(30, 4.8), result(5, 12.0), result(400, 50.0)]  # the last is too old
    chart.set_points(points_from_results(history), 5.0, now=NOW)
    chart.show()
    path = tmp_path / "chart.png"
    assert chart.grab().save(str(path))
    image = QImage(str(path))
    assert has_color(image, THRESHOLD_COLOR)
    assert has_color(image, OK_COLOR)
    assert has_color(image, SLOW_COLOR)


def test_chart_without_data_says_so(qtbot):
    chart = BandwidthChart(hours=2)
    qtbot.addWidget(chart)
    chart.resize(300, 120)
    chart.set_points([], 5.0, now=NOW)
    image = chart.grab().toImage()
    assert has_color(image, THRESHOLD_COLOR)  # the line AI jobs need is drawn anyway
    assert not has_color(image, OK_COLOR)


@pytest.mark.parametrize(("value", "ceiling"), [(0, 1), (7, 10), (10, 10), (11, 20), (42, 50),
                                                (0.3, 0.5)])
def test_axis_ceilings_are_round(value, ceiling):
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_worker_runs_off_the_gui_thread_and_reports(qtbot):
    seen: list[object] = []

    def check(cancel: CancelFlag) -> PreflightResult:
        seen.append(QThread.currentThread())
        return result(0, 12.0)

    worker = PreflightWorker(check)
    with qtbot.waitSignal(worker.finished, timeout=5000) as blocker:
        assert worker.start()
    assert blocker.args[0].verdict is Verdict.OK
    assert seen and seen[0] is not QThread.currentThread()
    assert worker.wait(1) and not worker.is_running()


def test_worker_reports_a_failure_as_one_line(qtbot):
    def check(cancel: CancelFlag) -> PreflightResult:
        raise CloudUnreachable("Cannot connect to the cloud.", hint="Check the network.")

    worker = PreflightWorker(check)
    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        worker.start()
    assert blocker.args == ["Cannot connect to the cloud. Check the network."]


def test_worker_runs_one_check_at_a_time_and_can_be_cancelled(qtbot):
    entered = threading.Event()

    def check(cancel: CancelFlag) -> PreflightResult:
        entered.set()
        while not cancel.is_set():  # a probe polls its flag between socket slices
            threading.Event().wait(0.01)
        raise ProbeCancelled("cancelled")

    worker = PreflightWorker(check)
    assert worker.start()
    assert entered.wait(5)
    assert worker.is_running()
    assert not worker.start()  # refused: one is running
    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        worker.cancel()
    assert worker.wait(5)
    with qtbot.waitSignal(worker.finished, timeout=5000):  # and it can run again
        worker._check = lambda cancel: result(0, 8.0)
        assert worker.start()


def test_a_fast_office_line_does_not_flatten_a_slow_venue_link():
    """With 318 Mbps and 1.5 Mbps on one linear 0-500 axis, 1.5 sat a pixel below 5."""
    scale = RateScale([318.6, 1.5, 6.0], threshold=5.0)
    assert scale.log
    assert scale.share(5.0) - scale.share(1.5) > 0.12
    assert scale.share(318.6) < 1.0 and scale.share(0.2) >= 0.0
    slow_night = RateScale([3.0, 4.0, 7.0], threshold=5.0)
    assert not slow_night.log and slow_night.top == 10
    assert 5.0 not in slow_night.ticks(5.0)  # the threshold has its own label


def test_passive_readings_are_drawn_as_their_own_kind(qtbot):
    chart = BandwidthChart(hours=3)
    qtbot.addWidget(chart)
    chart.resize(420, 160)
    # No probe at all: the photos' own transfers alone fill the chart (slow ones in red).
    chart.set_points([], 5.0, now=NOW, passive=[(NOW - timedelta(minutes=m), 2.5)
                                                 for m in (10, 40, 90)])
    chart.show()
    image = chart.grab().toImage()
    assert has_color(image, SLOW_COLOR)
    assert len(chart.passive) == 3


def render(tmp_path: Path, name: str, **kinds: list[tuple[datetime, float]]) -> QImage:
    chart = BandwidthChart(hours=3)
    chart.resize(420, 160)
    chart.set_points([], 5.0, now=NOW, **kinds)  # type: ignore[arg-type]
    chart.show()
    image = chart.grab().toImage()
    image.save(str(tmp_path / f"{name}.png"))  # to look at when it fails
    chart.close()
    return image


def test_result_downloads_are_drawn_as_their_own_kind(qtbot, tmp_path):
    # One fast reading, the same moment and rate: as a photo upload, then as a result download.
    reading = [(NOW - timedelta(minutes=30), 12.0)]
    as_upload = render(tmp_path, "up", passive=reading)
    as_download = render(tmp_path, "down", passive_down=reading)
    assert has_color(as_download, OK_COLOR)  # drawn, coloured by its verdict
    assert as_download != as_upload  # another mark (and the legend names it)
    both = render(tmp_path, "both", passive=reading, passive_down=reading)
    assert both not in (as_upload, as_download)


def test_the_connection_tab_charts_both_directions_of_the_photos_transfers(qtbot):
    from app.adapters.system.settings_file import Settings
    from app.core.bandwidth_passive import PassiveReading
    from app.core.cache import CachedState
    from app.core.status import ViewSettings
    from app.gui.connection_page import ConnectionPage
    from app.gui.monitor_worker import Snapshot

    up = PassiveReading("up", 6.5, NOW - timedelta(minutes=20), 1.2, 3_000_000, "tcp_info_acked")
    down = PassiveReading("down", 14.0, NOW - timedelta(minutes=10), 0.9, 4_000_000,
                          "tcp_info_received")
    snap = Snapshot(CachedState(), ViewSettings("https://cloud.example"), Settings(),
                    passive_history=[up, down])
    page = ConnectionPage()
    qtbot.addWidget(page)
    page.show_snapshot(snap, snap.assess(), NOW)
    assert page.chart.passive == [(up.measured_at, 6.5)]
    assert page.chart.passive_down == [(down.measured_at, 14.0)]
