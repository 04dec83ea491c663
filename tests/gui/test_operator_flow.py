"""An event as an operator lives it, through the whole tray app on the embedded demo cloud:
photos dropped in the hot folder, AI jobs charged, some failing, refunds claimed on their own."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.core.jobs import JobState
from app.core.refunds import ClaimStatus
from app.democloud.images import make_png
from app.gui.main import MonitorApp
from app.gui.refunds_view import STATUS_WORDS
from app.runtime import Options


@pytest.fixture
def tray_app(qtbot, qapp, home, memory_keyring):
    """The whole tray app on the embedded demo cloud; `failure_rate` of its AI jobs fail after
    being charged (the vendor's "charged but no result")."""
    made: list[MonitorApp] = []

    def start(failure_rate: float) -> MonitorApp:
        app = MonitorApp(qapp, Options(home=str(home), demo=True,
                                       demo_job_failure_rate=failure_rate),
                         tray_available=False)
        made.append(app)
        app.start()
        qtbot.waitUntil(lambda: app.jobs.last_queue is not None
                        and app.jobs.last_queue.folders is not None, timeout=20_000)
        return app

    yield start
    for app in made:
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


def test_failed_jobs_are_queued_charged_and_claimed_back(tray_app, qtbot):
    app = tray_app(failure_rate=1.0)
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
    app.show_event_summary()  # the tray's "Event summary…" at the end of the night
    dialog = app._summary_dialog
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=10_000)
    shown = dialog.text.text()
    assert "2 photos: 0 delivered, 2 failed, 0 still queued" in shown
    assert "in 2 claims" in shown and "$0.00 back" not in shown


def test_link_cut_mid_event_every_photo_once_with_one_charge(tray_app, qtbot):
    app = tray_app(failure_rate=0.0)
    folders = app.jobs.last_queue.folders
    buttons = app.window.queue_view.folder_buttons
    assert buttons["hot"].toolTip() == str(folders.hot)  # the operator sees where
    (folders.hot / "before.png").write_bytes(make_png(31, 20))
    qtbot.waitUntil(lambda: app.jobs.counts.count(JobState.SUCCEEDED) == 1, timeout=30_000)

    app._demo.emit("outage", {"mode": "drop", "seconds": 0})  # the venue Wi-Fi goes
    for n in range(3):
        (folders.hot / f"during-{n}.png").write_bytes(make_png(32 + n, 20))
    qtbot.waitUntil(lambda: not app.jobs.last_queue.online and app.jobs.counts.open == 3,
                    timeout=30_000)

    app._demo.emit("restore", {})  # and comes back
    qtbot.waitUntil(lambda: app.jobs.counts.count(JobState.SUCCEEDED) == 4
                    and app.jobs.counts.open == 0, timeout=60_000)
    jobs = app.jobs.last_queue.jobs
    assert len({j.cloud_job_id for j in jobs}) == 4  # one cloud job per photo, none twice
    results = sorted(p.name for p in folders.output.iterdir())
    assert len(results) == 4 and all(Path(j.result_path).exists() for j in jobs), results
    for stem in ("before", "during-0", "during-1", "during-2"):
        assert any(name.startswith(stem) for name in results), results

    # One charge per job in the cloud's own ledger (synced into the cache).
    poke = refresh_every_second(app)
    cloud_ids = {j.cloud_job_id for j in jobs}
    runtime = app.worker.shared_runtime()

    def charges() -> dict[str, int]:
        poke()
        counted: dict[str, int] = {}
        for entry in runtime.cache.recent_entries(500):
            if entry.job_id in cloud_ids and entry.amount_cents < 0:
                counted[entry.job_id] = counted.get(entry.job_id, 0) + 1
        return counted

    qtbot.waitUntil(lambda: len(charges()) == 4, timeout=20_000)
    assert set(charges().values()) == {1}
