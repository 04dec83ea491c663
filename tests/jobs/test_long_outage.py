"""A long venue outage while the booth's clock steps, end to end (issue 10, findings 1 and 3):
the real engine, store, HTTP client and demo cloud behind the fault proxy; only the booth's wall
clock is a stand-in, stepped by hand as NTP or an operator would. The monotonic clock is real."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.adapters.store.job_outcomes import QueueJobRecords
from app.core.jobs import JobState
from app.core.refund_rules import find_claims
from app.core.refunds import Rule
from app.democloud.server import DemoCloud
from tests.conftest import wait_until
from tests.jobs.conftest import JobEnv, build_env
from tests.support.fault_proxy import FaultProxy

S = JobState


class BoothClock:
    """The booth PC's wall clock: the real time plus a step."""

    def __init__(self) -> None:
        self.step = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.step


def _env(tmp_path: Path, url: str, clock: BoothClock) -> Iterator[JobEnv]:
    env = build_env(tmp_path, tmp_path / "cloud.sqlite3", url, timeout=1.0, clock=clock)
    env.engine.start()
    yield env
    env.engine.stop(timeout=10)
    env.http.close()


def _claims(env: JobEnv):
    """What the refund rules would claim now, from the queue and the cloud's own ledger."""
    now = env.http.cloud_now()
    page = env.http.get_ledger(cursor=None, since=now - timedelta(hours=3), limit=500)
    outcomes = QueueJobRecords(env.repo._db).outcomes_since(now - timedelta(days=1))
    return find_claims(outcomes, page.entries, set(), now + timedelta(hours=1))


@pytest.mark.parametrize("minutes", [45, -45])
def test_a_long_outage_with_a_clock_step_delivers_every_photo_once_and_claims_nothing(
        tmp_path: Path, demo_cloud, minutes: int):
    proxy = FaultProxy(demo_cloud.url)
    proxy.start()
    clock = BoothClock()
    env_iter = _env(tmp_path, proxy.url, clock)
    env = next(env_iter)
    try:
        proxy.stop()  # the venue's link goes down
        jobs = env.queue(3)
        wait_until(lambda: not env.engine.status().online)
        clock.step += timedelta(minutes=minutes)  # meanwhile the booth's clock steps
        proxy.start()  # the link is back
        env.wait_state(jobs, S.SUCCEEDED, timeout=30)
        charges = env.charges()
        assert all(charges.get(j.idempotency_key) == 1 for j in jobs), "charged once each"
        assert all(env.cloud_jobs_for(j) == 1 for j in jobs)
        assert _claims(env) == [], "a delivered photo's charge is never claimed"
    finally:
        next(env_iter, None)
        proxy.stop()


@pytest.fixture
def failing_cloud(tmp_path: Path) -> Iterator[DemoCloud]:
    cloud = DemoCloud(tmp_path / "failing-cloud.sqlite3", job_seconds=0.2, job_failure_rate=1.0,
                      seed=3)
    cloud.start()
    yield cloud
    cloud.stop()


def test_a_claim_cites_the_clouds_clock_when_the_booths_is_an_hour_ahead(
        tmp_path: Path, failing_cloud: DemoCloud):
    clock = BoothClock()
    clock.step = timedelta(hours=1)  # the booth PC runs an hour ahead of the cloud
    env_iter = _env(tmp_path, failing_cloud.url, clock)
    env = next(env_iter)
    try:
        [job] = env.queue(1)
        env.wait_state([job], S.FAILED)
        [claim] = _claims(env)
        assert claim.rule is Rule.FAILED_AFTER_CHARGE
        real = datetime.now(timezone.utc)
        for moment in (claim.submitted_at, claim.charged_at, claim.failed_at):
            assert moment is not None and abs(moment - real) < timedelta(minutes=1), \
                "every moment the claim cites is on the cloud's clock"
        assert claim.submitted_at <= claim.charged_at <= claim.failed_at
        assert env.http.clock_offset is not None and -3700 < env.http.clock_offset < -3500
    finally:
        next(env_iter, None)
