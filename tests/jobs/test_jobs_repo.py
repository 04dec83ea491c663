"""The durable queue on a real SQLite file: claims, leases, dedupe, operator actions."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from pathlib import Path

import pytest

from app.adapters.store import Database
from app.adapters.store.jobs_repo import JobsRepo, LeaseLost
from app.core.jobs import JobState, NewJob
from tests.jobs.fakes import T0, Clock

S = JobState


def new(n: int, feature: str = "draw_me", result: str | None = None) -> NewJob:
    return NewJob(f"/in/p{n}.jpg", feature, f"hash{n}", 100 + n, "image/jpeg", "cli",
                  result or f"/out/p{n}.draw_me.jpg", source_mtime_ns=n)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(tmp_path, clock):
    db = clock.database(tmp_path / "m.sqlite3")
    yield JobsRepo(db)
    db.close()


def test_a_queued_job_survives_reopening_with_its_key_and_history(tmp_path):
    path = tmp_path / "m.sqlite3"
    db = Database(path)
    job, created = JobsRepo(db).enqueue(new(1), T0)
    db.close()
    again = JobsRepo(Database(path))
    stored = again.get(job.id)
    assert created and stored.idempotency_key == job.idempotency_key
    assert stored.state is S.PENDING
    assert [(e.to_state, e.at) for e in again.history(job.id)] == [(S.PENDING, T0)]


def test_the_same_photo_for_the_same_feature_is_queued_once(repo):
    first, created = repo.enqueue(new(1), T0)
    again, created_again = repo.enqueue(new(1), T0 + timedelta(seconds=5))
    other_feature, created_other = repo.enqueue(new(1, "ai_headshot"), T0)
    assert created and not created_again and again.id == first.id
    assert created_other and other_feature.id != first.id
    assert repo.known_file("/in/p1.jpg", "draw_me", 101, 1).id == first.id
    assert repo.known_file("/in/p1.jpg", "ai_headshot", 101, 1).id == other_feature.id
    assert repo.known_file("/in/p1.jpg", "draw_me", 999, 1) is None


def test_two_photos_wanting_one_result_name_get_two_names(repo):
    a, _ = repo.enqueue(new(1, result="/out/x.jpg"), T0)
    b, _ = repo.enqueue(new(2, result="/out/x.jpg"), T0)
    assert a.result_path == "/out/x.jpg" and b.result_path != a.result_path


def test_claims_go_in_queue_order_and_skip_leased_and_not_yet_due_jobs(repo):
    jobs = [repo.enqueue(new(n), T0)[0] for n in range(3)]
    first = repo.claim("a", T0, 30)
    assert first.id == jobs[0].id and first.owner == "a"
    repo.transition(repo.claim("b", T0, 30), "b", S.PENDING, at=T0, note="retry later",
                    release=True, due_in=60)
    assert repo.claim("c", T0, 30).id == jobs[2].id
    assert repo.claim("d", T0, 30) is None
    assert repo.due_in() == pytest.approx(30)  # the first lease runs out first


def test_an_expired_lease_is_taken_over_and_the_old_owner_can_no_longer_write(repo, clock):
    job, _ = repo.enqueue(new(1), T0)
    mine = repo.claim("dead-process", clock(), 30)
    clock.advance(29)
    assert repo.claim("survivor", clock(), 30) is None
    clock.advance(2)
    taken = repo.claim("survivor", clock(), 30)
    assert taken.id == job.id and taken.owner == "survivor"
    with pytest.raises(LeaseLost):
        repo.transition(mine, "dead-process", S.SENDING, at=T0, note="too late", release=False)
    assert "taken over from dead-process" in repo.history(job.id)[-1].note


def test_renew_keeps_a_long_upload_leased(repo, clock):
    repo.enqueue(new(1), T0)
    job = repo.claim("a", clock(), 30)
    repo.renew("a", [job.id], 90)
    clock.advance(60)
    assert repo.claim("b", clock(), 30) is None


def test_release_owner_hands_jobs_back_at_once(repo):
    repo.enqueue(new(1), T0)
    repo.claim("a", T0, 30)
    repo.release_owner("a")
    assert repo.claim("b", T0, 30) is not None


def test_operator_actions(repo):
    gave_up, _ = repo.enqueue(new(2), T0)
    job = repo.claim("a", T0, 30)
    job = repo.transition(job, "a", S.GIVEN_UP, at=T0, note="budget", release=True,
                          attempts=8)
    [retried] = repo.retry([job.id], T0)
    assert retried.state is S.PENDING and retried.attempts == 0
    assert retried.idempotency_key == gave_up.idempotency_key

    [removed] = repo.remove([retried.id], T0)
    assert removed.state is S.REMOVED
    assert repo.enqueue(new(2), T0)[1], "a removed photo can be dropped in again"

    held, _ = repo.enqueue(new(1), T0)
    claimed = repo.claim("a", T0, 30)
    assert claimed.id != held.id  # the re-dropped photo is older in the queue
    repo.transition(claimed, "a", S.PENDING, at=T0, note="later", release=True,
                    due_in=3600)
    held = repo.transition(repo.claim("a", T0, 30), "a", S.HELD, at=T0, note="slow",
                           release=True)
    [sent] = repo.send_anyway([held.id[:8]], T0)  # an unambiguous prefix is enough
    assert sent.state is S.PENDING and sent.send_anyway


def test_retrying_a_job_the_cloud_failed_makes_a_new_job_with_a_new_key(repo):
    job, _ = repo.enqueue(new(1), T0)
    claimed = repo.claim("a", T0, 30)
    claimed = repo.transition(claimed, "a", S.SENDING, at=T0, note="", release=False)
    failed = repo.transition(claimed, "a", S.FAILED, at=T0, note="cloud failed", release=True,
                             cloud_job_id="job_9")
    [fresh] = repo.retry([failed.id], T0)
    assert fresh.id != job.id and fresh.retry_of == job.id
    assert fresh.idempotency_key != job.idempotency_key
    assert fresh.result_path == job.result_path  # the failed job never wrote it
    assert repo.get(job.id).state is S.FAILED  # its history stays for the refund claim


def test_a_job_being_worked_on_cannot_be_removed(repo):
    job, _ = repo.enqueue(new(1), T0)
    repo.claim("a", T0, 30)
    with pytest.raises(LeaseLost, match="being worked on"):
        repo.remove([job.id], T0 + timedelta(seconds=1))


def test_pause_is_shared_and_keeps_its_first_time(repo):
    assert repo.pause("credits", "Not enough credits.", T0, 120)
    assert repo.pause_state().recheck_in == pytest.approx(120)
    assert not repo.pause("credits", "Still not.", T0 + timedelta(minutes=2), None)
    pause = repo.pause_state()
    assert pause.since == T0 and pause.message == "Still not."
    assert repo.counts().pause == pause
    assert repo.resume() and repo.pause_state() is None


def _claim_all(path: str, owner: str, out) -> None:
    repo = JobsRepo(Database(Path(path)))
    taken = []
    while (job := repo.claim(owner, T0, 600)) is not None:
        taken.append(job.id)
    out.put(taken)


def test_processes_sharing_the_file_never_take_the_same_job(tmp_path):
    path = tmp_path / "m.sqlite3"
    repo = JobsRepo(Database(path))
    ids = {repo.enqueue(new(n), T0)[0].id for n in range(120)}
    ctx = multiprocessing.get_context("spawn")  # what Windows does; no fork-only behaviour
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(str(path), f"p{i}", out)) for i in range(3)]
    for p in procs:
        p.start()
    taken = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    flat = [job_id for part in taken for job_id in part]
    assert sorted(flat) == sorted(ids), "every job taken exactly once"
    assert len(flat) == len(set(flat))
