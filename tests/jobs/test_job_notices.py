"""What the operator is told about the queue: once per episode, never once per photo."""

from datetime import timedelta

from app.core.job_notices import QueueWatch, badge_text, quit_warning
from app.core.jobs import QueueCounts, QueuePause
from tests.jobs.fakes import T0


def counts(pause: QueuePause | None = None, **by_state: int) -> QueueCounts:
    return QueueCounts(dict(by_state), None, pause)


def keys(watch: QueueWatch, c: QueueCounts, minutes: float = 0) -> list[str]:
    return [n.key for n in watch.update(c, T0 + timedelta(minutes=minutes))]


def test_held_is_told_once_per_episode():
    watch = QueueWatch()
    assert keys(watch, counts(held=1, pending=2)) == ["held"]
    assert keys(watch, counts(held=3, pending=2), 1) == []
    assert keys(watch, counts(pending=5), 2) == []
    assert keys(watch, counts(held=1), 3) == ["held"]


def test_a_backlog_that_drains_is_announced_but_normal_traffic_is_not():
    watch = QueueWatch()
    keys(watch, counts(pending=2))
    assert keys(watch, counts(succeeded=2), 1) == []
    keys(watch, counts(pending=40, succeeded=2), 2)
    assert keys(watch, counts(pending=10, succeeded=32), 3) == []
    [drained] = watch.update(counts(succeeded=42), T0 + timedelta(minutes=4))
    assert drained.key == "drained" and "40" in drained.message


def test_stuck_after_the_set_time_without_progress_and_again_only_after_progress():
    watch = QueueWatch(stuck_after=timedelta(minutes=15))
    pause = QueuePause("credits", "Not enough credits.", T0)
    assert keys(watch, counts(pause, pending=3, succeeded=1)) == ["paused:credits"]
    assert keys(watch, counts(pause, pending=3, succeeded=1), 14) == []
    [stuck] = watch.update(counts(pause, pending=3, succeeded=1), T0 + timedelta(minutes=15))
    assert "Not enough credits" in stuck.message and stuck.severity == "critical"
    assert keys(watch, counts(pause, pending=3, succeeded=1), 30) == []
    assert keys(watch, counts(pending=2, succeeded=2), 31) == []  # progress: episode over
    assert keys(watch, counts(pending=2, succeeded=2), 46) == ["stuck"]


def test_pause_is_told_when_it_starts_and_when_its_kind_changes():
    watch = QueueWatch()
    credits = QueuePause("credits", "Not enough credits.", T0)
    auth = QueuePause("auth", "The token expired.", T0)
    assert keys(watch, counts(credits, pending=1)) == ["paused:credits"]
    assert keys(watch, counts(credits, pending=1), 1) == []
    assert keys(watch, counts(auth, pending=1), 2) == ["paused:auth"]
    assert keys(watch, counts(pending=1), 3) == []
    assert keys(watch, counts(credits, pending=1), 4) == ["paused:credits"]


def test_badge_and_quit_warning():
    assert badge_text(counts()) == "" and badge_text(counts(pending=3, held=1)) == "4"
    assert badge_text(counts(pending=150)) == "99+"
    assert quit_warning(counts(succeeded=3)) is None
    assert "2 photos are still queued" in quit_warning(counts(pending=1, waiting_result=1))
