"""An event as an operator lives it, through the whole tray app on the embedded demo cloud:
photos dropped in the hot folder, AI jobs charged, some failing, refunds claimed on their own."""

from __future__ import annotations

import time

import pytest

from app.core.jobs import JobState
from app.core.refunds import ClaimStatus
from app.democloud.images import make_png
from app.gui.main import MonitorApp
from app.gui.refunds_view import STATUS_WORDS
from app.runtime import Options


@pytest.fixture
def failing_demo(qtbot, qapp, home, memory_keyring):
    """Every AI job fails after it was charged (the vendor's "charged but no result")."""
    app = MonitorApp(qapp, Options(home=str(home), demo=True, demo_job_failure_rate=1.0),
                     tray_available=False)
    app.start()
    qtbot.waitUntil(lambda: app.jobs.last_queue is not None
                    and app.jobs.last_queue.folders is not None, timeout=20_000)
    yield app
    app.confirm_quit = lambda _warning: True
    with qtbot.waitSignal(app.thread.finished, timeout=20_000):
        app.quit()
    app.dispose()


def statuses(app: MonitorApp) -> list[str]:
    rows = app.window.refunds_view.table
    return [rows.item(r, 0).text() for r in range(rows.rowCount())]


def refresh_every_second(app: MonitorApp):
    """A predicate wrapper that asks for a sync now and then while waiting (the app itself
    syncs once a minute, too slow for a test)."""
    last = [0.0]

    def poke() -> None:
        now = time.monotonic()
        if now - last[0] > 1.0:
            last[0] = now
            app._refresh.emit()

    return poke


def test_failed_jobs_are_queued_charged_and_claimed_back(failing_demo, qtbot):
    app = failing_demo
    hot = app.jobs.last_queue.folders.hot
    for n in range(2):
        (hot / f"guest-{n}.png").write_bytes(make_png(20 + n, 20))

    def ended() -> bool:
        jobs = app.jobs.last_queue.jobs
        return len(jobs) == 2 and all(j.state is JobState.FAILED for j in jobs)

    qtbot.waitUntil(ended, timeout=30_000)
    assert app.jobs.counts is not None and app.jobs.counts.open == 0
    # The charges reach the cache with a sync; the refund rules run right after it, and the
    # demo cloud decides a filed claim a few seconds later.
    poke = refresh_every_second(app)
    refunded = STATUS_WORDS[ClaimStatus.REFUNDED]
    qtbot.waitUntil(lambda: poke() or statuses(app) == [refunded, refunded], timeout=60_000)
    summary = app.window.refunds_view.summary.text()
    assert summary.startswith("2 failed jobs") and "$0.00 refunded" not in summary
