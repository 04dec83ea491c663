"""The engine as a whole against the demo cloud: held jobs, two engines on one store, status."""

from __future__ import annotations

import time

from app.core.job_runner import LinkVerdict
from app.core.jobs import JobState
from app.orchestration.job_path import queue_counts
from app.runtime import Options, Runtime
from tests.conftest import wait_until
from tests.jobs.conftest import build_env
from tests.jobs.fakes import FakeLink

S = JobState


def test_held_jobs_go_out_when_the_link_recovers(tmp_path, demo_cloud):
    link = FakeLink(LinkVerdict.SLOW)
    env = build_env(tmp_path, tmp_path / "cloud.sqlite3", demo_cloud.url, link=link)
    env.engine.start()
    try:
        jobs = env.queue(3)
        env.wait_state(jobs, S.HELD)
        assert env.cloud_jobs_for(jobs[0]) == 0, "nothing is sent on a slow link"
        assert "too slow" in env.repo.history(jobs[0].id)[-1].note
        link.verdict = LinkVerdict.OK
        env.wait_state(jobs, S.SUCCEEDED)
        assert any("the link recovered" in e.note for e in env.repo.history(jobs[0].id))
    finally:
        env.engine.stop()
        env.http.close()


def test_two_engines_on_one_store_never_send_a_job_twice(tmp_path, demo_cloud):
    """The tray app and a `replay` at the same time: separate connections, one file."""
    first = build_env(tmp_path, tmp_path / "cloud.sqlite3", demo_cloud.url, concurrency=3)
    second = build_env(tmp_path, tmp_path / "cloud.sqlite3", demo_cloud.url, concurrency=3)
    # The second engine sits behind a slow link (0.3 s a request), so it cannot send the whole
    # queue before the first engine is up, however the threads are scheduled: both really
    # compete for the same 30 jobs.
    second.http._client.event_hooks["request"] = [lambda _request: time.sleep(0.3)]
    jobs = first.queue(30)
    second.engine.start()

    def second_claimed() -> bool:
        return any(e.owner == second.engine.owner and e.to_state is S.SENDING
                   for job in jobs for e in first.repo.history(job.id))

    try:
        wait_until(second_claimed, timeout=30)
        first.engine.start()
        first.wait_state(jobs, S.SUCCEEDED, timeout=60)
    finally:
        first.engine.stop()
        second.engine.stop()
        first.http.close()
        second.http.close()
    senders = set()
    for job in jobs:
        assert first.cloud_jobs_for(job) == 1
        sends = [e for e in first.repo.history(job.id) if e.to_state is S.SENDING]
        assert len(sends) == 1, f"{job.id} was sent {len(sends)} times"
        senders.add(sends[0].owner)
    assert senders == {first.engine.owner, second.engine.owner}, "both engines took jobs"
    ours = {k: n for k, n in first.charges().items() if k.startswith("bcm-")}
    assert ours == {j.idempotency_key: 1 for j in jobs}


def test_queue_counts_for_status_json(home):
    runtime = Runtime(Options(home=str(home), cloud_url="http://127.0.0.1:9"))
    try:
        counts = queue_counts(runtime)
    finally:
        runtime.close()
    assert counts["open"] == 0 and counts["paused"] is None and "given_up" in counts
