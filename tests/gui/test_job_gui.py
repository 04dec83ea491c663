"""The job worker on its own thread and the queue window, offscreen, against the demo cloud."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import QMetaObject, Qt, QThread
from PySide6.QtWidgets import QApplication

from app.core.backoff import Backoff
from app.core.conditions import Condition
from app.core.job_notices import queue_line
from app.core.job_runner import LinkVerdict, RunPolicy
from app.core.jobs import JobState, QueueCounts
from app.democloud.images import make_png
from app.gui.icons import state_icon
from app.gui.job_worker import JobWorker, QueueSnapshot
from app.gui.queue_badge import badge_icon, draw_badge, fit_text
from app.gui.queue_window import QueueWindow
from app.orchestration.job_engine import EngineConfig
from app.runtime import Options, Runtime
from tests.jobs.fakes import FakeLink

FAST = Backoff(base=0.1, cap=0.4, floor=0.05)
S = JobState


class Harness:
    def __init__(self, qtbot, runtime: Runtime, **kwargs):
        self.qtbot = qtbot
        self.runtime = runtime
        self.snapshots: list[QueueSnapshot] = []
        self.notices: list = []
        self.thread = QThread()
        self.worker = JobWorker(runtime, quiet_seconds=0.2, rescan_ms=5_000,
                                config=EngineConfig(max_concurrent=2, lease_seconds=5,
                                                    probe_backoff=FAST,
                                                    held_recheck_seconds=60),
                                policy=RunPolicy(backoff=FAST), **kwargs)
        self.worker.moveToThread(self.thread)
        self.worker.snapshot.connect(self.snapshots.append)
        self.worker.notice.connect(self.notices.append)
        self.thread.start()
        with qtbot.waitSignal(self.worker.ready, timeout=15_000):
            QMetaObject.invokeMethod(self.worker, "start", Qt.ConnectionType.QueuedConnection)

    @property
    def last(self) -> QueueSnapshot:
        return self.snapshots[-1]

    def hot(self) -> Path:
        assert self.last.folders is not None
        return self.last.folders.hot

    def drop(self, name: str, data: bytes | None = None, n: int = 0) -> Path:
        path = self.hot() / name
        path.write_bytes(data if data is not None else make_png(10 + n, 10))
        return path

    def wait(self, predicate, timeout: int = 20_000) -> None:
        self.qtbot.waitUntil(lambda: bool(self.snapshots) and predicate(self.last),
                             timeout=timeout)

    def close(self) -> None:
        with self.qtbot.waitSignal(self.worker.stopped, timeout=30_000):
            QMetaObject.invokeMethod(self.worker, "stop", Qt.ConnectionType.QueuedConnection)
        self.thread.quit()
        self.thread.wait(10_000)


@pytest.fixture
def runtime(home, demo_cloud, monkeypatch, memory_keyring):
    monkeypatch.setenv("BOOTH_MONITOR_TOKEN", demo_cloud.token)
    rt = Runtime(Options(home=str(home), cloud_url=demo_cloud.url))
    rt.cloud()  # the monitor worker builds the client first in the app, too
    yield rt
    rt.close()


def test_photos_dropped_in_the_hot_folder_come_back_as_results(qtbot, runtime):
    h = Harness(qtbot, runtime)  # the real bandwidth preflight against the demo cloud
    try:
        assert h.worker.thread() is h.thread and h.thread is not QApplication.instance().thread()
        photos = [h.drop(f"guest-{n}.png", n=n) for n in range(3)]
        h.drop("notes.jpg", b"this is not a photo")
        h.wait(lambda s: s.counts.count(S.SUCCEEDED) == 3)
        results = sorted(p.name for p in h.last.folders.output.iterdir())
        assert results == sorted(f"{p.stem}.background_removal.png" for p in photos)
        assert any(n.title == "Photo set aside" for n in h.notices)
        assert (h.last.folders.quarantine / "notes.jpg.why.txt").exists()
        assert h.last.badge == ""
    finally:
        h.close()


def test_held_jobs_are_sent_when_the_operator_says_so(qtbot, runtime):
    link = FakeLink(LinkVerdict.SLOW)
    h = Harness(qtbot, runtime, link=link)
    window = QueueWindow()
    qtbot.addWidget(window)
    window.show()
    h.worker.snapshot.connect(window.set_snapshot)
    window.send_anyway_requested.connect(h.worker.send_anyway)
    try:
        h.drop("slow-1.png", n=1)
        h.drop("slow-2.png", n=2)
        h.wait(lambda s: s.counts.count(S.HELD) == 2)
        assert h.last.badge == "2"
        assert any(n.key == "held" for n in h.notices), "one notice for the held episode"
        qtbot.waitUntil(lambda: window.model.rowCount() == 2)
        assert window.model.text(0, 2) == "Held (slow link)"
        window.table.selectRow(0)
        assert window.send_button.isEnabled()
        asked = []
        window.confirm = lambda title, text, yes: asked.append(text) or False  # "Cancel"
        window.send_button.click()
        assert asked and "charged" in asked[0]
        assert h.last.counts.count(S.HELD) == 2, "nothing is sent without a yes"
        window.confirm = lambda title, text, yes: True
        window.send_button.click()
        h.wait(lambda s: s.counts.count(S.SUCCEEDED) == 1 and s.counts.count(S.HELD) == 1)
        sent = next(j for j in h.last.jobs if j.state is S.SUCCEEDED)
        assert sent.send_anyway
    finally:
        h.close()


def test_queue_window_renders_states_and_buttons(qtbot, runtime, tmp_path):
    h = Harness(qtbot, runtime, link=FakeLink(LinkVerdict.SLOW))
    try:
        h.drop("held.png", n=1)
        h.wait(lambda s: s.counts.count(S.HELD) == 1)
        snap = h.last
    finally:
        h.close()
    window = QueueWindow()
    qtbot.addWidget(window)
    window.set_snapshot(snap)
    assert window.model.rowCount() == 0, "a hidden window does not draw"
    window.show()
    assert window.model.rowCount() == 1
    assert "1 open" in window.summary.text() and "held" in window.summary.text().lower()
    assert not window.retry_button.isEnabled(), "nothing selected yet"
    window.table.selectRow(0)
    assert window.retry_button.isEnabled() and window.send_button.isEnabled()
    removed = []
    window.remove_requested.connect(removed.append)
    window.confirm = lambda title, text, yes: "Remove 1 photo" in text  # the operator agrees
    window.remove_button.click()
    assert removed == [[snap.jobs[0].id]]
    window.grab().save(str(tmp_path / "queue-window.png"))
    assert (tmp_path / "queue-window.png").stat().st_size > 1000


def test_badge_paints_the_count_and_the_tooltip_says_it(qapp):
    assert badge_icon(Condition.CURRENT, QueueCounts({})) is state_icon(Condition.CURRENT)
    plain = state_icon(Condition.CURRENT).pixmap(32, 32).toImage()
    painted = badge_icon(Condition.CURRENT, QueueCounts({"pending": 3})).pixmap(32, 32).toImage()
    assert painted != plain
    assert queue_line(QueueCounts({"pending": 3, "held": 1})) == "4 photos queued, 1 held"
    assert queue_line(QueueCounts({})) == ""


@pytest.mark.parametrize("size", [16, 20, 22, 24, 32])
def test_the_badge_digit_is_tall_enough_to_read_at_tray_sizes(qapp, size):
    """A digit scaled down from a 64 px drawing was 2-3 px tall at 22 px ("3" read as "J").
    Count the rows of white glyph pixels inside the tag: most of its height, 6 px at least."""
    from app.gui.queue_badge import badge_rect

    text = fit_text("3", size)
    image = draw_badge(Condition.CURRENT, text, size).toImage()
    rect = badge_rect(text, size).toRect()
    rows = [y for y in range(max(0, rect.top()), min(size, rect.bottom() + 1))
            if any(image.pixelColor(x, y).lightness() > 200 and image.pixelColor(x, y).alpha()
                   > 200 for x in range(max(0, rect.left()), min(size, rect.right() + 1)))]
    assert len(rows) >= max(6, 0.55 * rect.height()), (size, rows)


def test_counts_too_long_for_a_small_badge_are_shortened(qapp):
    assert fit_text("3", 16) == "3" and fit_text("12", 16) == "12"
    assert fit_text("12", 22) == "12" and fit_text("123", 22) == "9+"
    assert fit_text("99+", 32) == "99+"


def test_the_operator_run_from_the_issue(qtbot, runtime, demo_cloud):
    """Drop photos, lose the cloud, drop more, get it back: every photo gets its result once,
    with one charge each, and the worker says when it is offline and when the backlog is done."""
    def demo(name: str, body: dict) -> None:
        httpx.post(f"{demo_cloud.url}/demo/scenarios/{name}", json=body,
                   headers={"Authorization": "Bearer demo-token"}).raise_for_status()

    h = Harness(qtbot, runtime, use_default_link=False)
    try:
        first = [h.drop(f"before-{n}.png", n=n) for n in range(3)]
        h.wait(lambda s: s.counts.count(S.SUCCEEDED) == 3)
        demo("outage", {"mode": "drop", "seconds": 0})  # the venue link dies
        later = [h.drop(f"during-{n}.png", n=10 + n) for n in range(5)]
        h.wait(lambda s: not s.online and s.counts.count(S.PENDING) == 5)
        assert h.last.badge == "5"
        demo("restore", {})
        h.wait(lambda s: s.counts.count(S.SUCCEEDED) == 8)
        assert h.last.online and h.last.badge == ""
        assert any(n.key == "drained" for n in h.notices)
        outputs = sorted(p.name for p in h.last.folders.output.iterdir())
        assert outputs == sorted(f"{p.stem}.background_removal.png" for p in first + later)
        keys = {j.idempotency_key for j in h.last.jobs}
        charges = _charges(demo_cloud)
        assert {k: charges.get(k) for k in keys} == dict.fromkeys(keys, 1)
    finally:
        h.close()


def _charges(demo_cloud) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{demo_cloud.db_path}?mode=ro", uri=True)
    try:
        return dict(conn.execute(
            "SELECT j.idempotency_key, COUNT(l.id) FROM jobs j JOIN ledger_entries l"
            " ON l.job_id = j.id AND l.kind = 'ai_run' GROUP BY j.idempotency_key").fetchall())
    finally:
        conn.close()
