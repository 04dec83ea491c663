"""Waits, leases and schedules against a wall clock that steps and a PC that restarts (issue 10,
findings 1 and 3): the runner and the real SQLite queue, on a test clock driven by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.adapters.store.job_outcomes import QueueJobRecords
from app.adapters.store.jobs_repo import JobsRepo
from app.core.job_runner import FOLLOW_UP_DELAY, CloudJob, JobRunner, RunPolicy
from app.core.jobs import JobState, NewJob
from app.core.refunds import Ending
from tests.jobs.fakes import PHOTO_HASH, T0, Clock, FakeCloud, FakeFiles

S = JobState
OWNER = "test-owner"
WAIT = 1800.0  # the default result-wait budget


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path, clock):
    database = clock.database(tmp_path / "m.sqlite3")
    yield database
    database.close()


@pytest.fixture
def repo(db) -> JobsRepo:
    return JobsRepo(db)


def _queue(repo: JobsRepo, clock: Clock):
    job, _ = repo.enqueue(NewJob("/in/p.jpg", "draw_me", PHOTO_HASH, 10, "image/jpeg", "cli",
                                 "/out/p.draw_me.jpg"), clock())
    return job


def _step(runner: JobRunner, repo: JobsRepo, clock: Clock, *, follow_ups: bool = False):
    job = repo.claim(OWNER, clock(), 30, follow_ups=follow_ups)
    assert job is not None, "a job should be due"
    return runner.step(job, OWNER).job


# -- finding 1: the result wait counts from the cloud's acceptance -------------------------------


def test_a_photo_queued_through_a_31_minute_outage_still_gets_its_whole_result_wait(repo, clock):
    cloud = FakeCloud(statuses=[CloudJob("job_1", "running")])
    runner = JobRunner(cloud, repo, FakeFiles(), None, clock)
    _queue(repo, clock)
    clock.advance(31 * 60)  # the venue's link was down; the photo waited in the queue
    assert _step(runner, repo, clock).state is S.WAITING_RESULT  # sent on return, accepted
    clock.advance(1)
    assert _step(runner, repo, clock).state is S.WAITING_RESULT  # still running
    clock.advance(1)
    job = _step(runner, repo, clock)  # the cloud finished it
    assert job.state is S.SUCCEEDED, job.last_error


def test_a_wall_clock_step_forward_uses_up_no_result_wait(repo, clock):
    cloud = FakeCloud(statuses=[CloudJob("job_1", "running"), CloudJob("job_1", "running")])
    runner = JobRunner(cloud, repo, FakeFiles(), None, clock)
    _queue(repo, clock)
    assert _step(runner, repo, clock).state is S.WAITING_RESULT
    clock.step_wall(45 * 60)  # NTP corrects a booth PC that was 45 minutes slow
    for _ in range(2):
        clock.advance(1)
        assert _step(runner, repo, clock).state is S.WAITING_RESULT  # running, running
    clock.advance(3)
    assert _step(runner, repo, clock).state is S.SUCCEEDED


def test_a_job_given_up_waiting_is_followed_and_downloaded_when_the_cloud_delivers(
        repo, db, clock):
    running = CloudJob("job_1", "running", charged_cents=150)
    cloud = FakeCloud(statuses=[running, running])
    runner = JobRunner(cloud, repo, FakeFiles(), None, clock, RunPolicy(max_wait_seconds=60))
    job = _queue(repo, clock)
    _step(runner, repo, clock)  # accepted
    clock.advance(61)
    given_up = _step(runner, repo, clock)  # still running a minute later
    assert given_up.state is S.GIVEN_UP and given_up.follow_up
    records = QueueJobRecords(db)
    assert records.outcome(job.id).ending is Ending.OPEN, "not claimable while followed"
    assert repo.claim(OWNER, clock(), 30, follow_ups=True) is None, "not asked again at once"
    clock.advance(FOLLOW_UP_DELAY + 1)
    assert _step(runner, repo, clock, follow_ups=True).state is S.GIVEN_UP  # still running
    clock.advance(FOLLOW_UP_DELAY + 1)
    done = _step(runner, repo, clock, follow_ups=True)  # succeeded after all: downloaded
    assert done.state is S.SUCCEEDED and not done.follow_up
    assert records.outcome(job.id).ending is Ending.DELIVERED
    assert cloud.keys == [job.idempotency_key], "nothing sent again"


def test_a_followed_job_the_cloud_fails_later_is_recorded_as_failed_on_the_cloud_clock(
        repo, db, clock):
    failed_at = T0 + timedelta(hours=3)
    cloud = FakeCloud(
        submits=[CloudJob("job_1", "queued", created_at=T0 - timedelta(hours=1))],
        statuses=[CloudJob("job_1", "running"),
                  CloudJob("job_1", "failed", "node lost", 150, updated_at=failed_at)])
    runner = JobRunner(cloud, repo, FakeFiles(), None, clock, RunPolicy(max_wait_seconds=0))
    job = _queue(repo, clock)
    _step(runner, repo, clock)  # accepted
    clock.advance(1)
    assert _step(runner, repo, clock).state is S.GIVEN_UP  # running, and no wait allowed
    clock.advance(FOLLOW_UP_DELAY + 1)
    assert _step(runner, repo, clock, follow_ups=True).state is S.FAILED
    outcome = QueueJobRecords(db).outcome(job.id)
    assert outcome.ending is Ending.FAILED
    # The times a refund request cites are the cloud's own (its clock is an hour behind ours).
    assert outcome.submitted_at == T0 - timedelta(hours=1)
    assert outcome.ended_at == failed_at


# -- finding 3: schedules and leases never read the wall clock ---------------------------------


def test_a_backward_wall_clock_step_does_not_freeze_the_queue(repo, clock):
    job = _queue(repo, clock)
    claimed = repo.claim(OWNER, clock(), 30)
    repo.transition(claimed, OWNER, S.PENDING, at=clock(), note="retry in 5 s", release=True,
                    due_in=5)
    clock.step_wall(-3600)  # the clock is set back an hour
    clock.advance(5)
    assert repo.claim(OWNER, clock(), 30).id == job.id, "due after 5 s, not after an hour"


def test_a_forward_wall_clock_step_does_not_end_a_lease(repo, clock):
    _queue(repo, clock)
    assert repo.claim("uploader", clock(), 30) is not None
    clock.step_wall(3600)
    assert repo.claim("another", clock(), 30) is None, "the upload is still leased"


def test_a_restart_of_the_pc_resumes_the_timeline_where_it_was(tmp_path, clock):
    path = tmp_path / "m.sqlite3"
    db = clock.database(path)
    repo = JobsRepo(db)
    job = _queue(repo, clock)
    repo.transition(repo.claim(OWNER, clock(), 30), OWNER, S.PENDING, at=clock(), note="later",
                    release=True, due_in=60)
    db.close()
    # The PC restarts: the monotonic clock starts again near zero, the boot id changes, the
    # wall clock went back (a flat CMOS battery).
    clock.mono = 3.0
    clock.step_wall(-86400)
    from app.adapters.store import Database
    again = JobsRepo(Database(path, monotonic=clock.monotonic, wall=clock.wall,
                              boot_id=lambda: "boot-2"))
    assert again.due_in() == pytest.approx(60, abs=1), "the time switched off does not count"
    clock.advance(61)
    assert again.claim(OWNER, clock(), 30).id == job.id
