"""A job path wired to the real demo cloud (optionally through the fault proxy), with fast timers.

Only the timers are shortened; the store, the HTTP client, the runner and the engine are the
real ones the tray app uses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from app.adapters.cloud.client import HttpCloud
from app.adapters.cloud.jobs import CloudJobs
from app.adapters.intake.hot_folder import Intake
from app.adapters.intake.job_files import LocalFiles
from app.adapters.store import Database
from app.adapters.store.jobs_repo import JobsRepo
from app.core.backoff import Backoff
from app.core.job_runner import JobRunner, LinkCheck, RunPolicy
from app.core.jobs import FINAL, Job, JobState
from app.democloud.images import make_png
from app.orchestration.job_engine import EngineConfig, EngineEvent, JobEngine
from app.runtime import utc_now
from tests.conftest import wait_until
from tests.support.fault_proxy import FaultProxy

FAST = Backoff(base=0.1, cap=0.4, floor=0.05)


@dataclass
class JobEnv:
    root: Path
    cloud_db: Path
    repo: JobsRepo
    engine: JobEngine
    intake: Intake
    http: HttpCloud
    cloud_url: str
    events: list[EngineEvent] = field(default_factory=list)
    photos: int = 0

    @property
    def output(self) -> Path:
        return self.root / "out"

    def photo(self, name: str | None = None, folder: Path | None = None) -> Path:
        self.photos += 1
        path = (folder or self.root / "in") / (name or f"guest-{self.photos:03d}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make_png(8 + self.photos, 8))
        return path

    def queue(self, n: int = 1, feature: str = "draw_me") -> list[Job]:
        jobs = []
        for _ in range(n):
            job = self.intake.submit(self.photo(), feature, "cli").job
            assert job is not None
            jobs.append(job)
        self.engine.wake()
        return jobs

    def job(self, job: Job) -> Job:
        found = self.repo.get(job.id)
        assert found is not None
        return found

    def wait_state(self, jobs: list[Job], *states: JobState, timeout: float = 20.0) -> None:
        wanted = set(states) or set(FINAL)
        wait_until(lambda: all(self.job(j).state in wanted for j in jobs), timeout)

    def demo(self, name: str, body: dict | None = None) -> dict:
        response = httpx.post(f"{self.cloud_url}/demo/scenarios/{name}", json=body or {},
                              headers={"Authorization": "Bearer demo-token"}, timeout=10)
        response.raise_for_status()
        return response.json()

    def charges(self) -> dict[str, int]:
        """The demo cloud's own ledger: AI charges per idempotency key."""
        conn = sqlite3.connect(f"file:{self.cloud_db}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT j.idempotency_key, COUNT(l.id) FROM jobs j JOIN ledger_entries l"
                " ON l.job_id = j.id AND l.kind = 'ai_run' GROUP BY j.idempotency_key")
            return dict(rows.fetchall())
        finally:
            conn.close()

    def cloud_jobs_for(self, job: Job) -> int:
        conn = sqlite3.connect(f"file:{self.cloud_db}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT COUNT(*) FROM jobs WHERE idempotency_key = ?",
                                (job.idempotency_key,)).fetchone()[0]
        finally:
            conn.close()


def build_env(root: Path, cloud_db: Path, url: str, *, link: LinkCheck | None = None,
              timeout: float = 2.0, budget: int = 4, hold: bool = True,
              concurrency: int = 2, clock: Callable[[], datetime] = utc_now) -> JobEnv:
    """`clock`: the booth's wall clock (a test may step it); the monotonic clock is real."""
    db = Database(root / "monitor.sqlite3", wall=lambda: clock().timestamp())
    repo = JobsRepo(db)
    http = HttpCloud(url, "demo-token", timeout=httpx.Timeout(timeout), wall=clock)
    runner = JobRunner(CloudJobs(lambda: http), repo, LocalFiles(), link, clock,
                       RunPolicy(retry_budget=budget, backoff=FAST, hold_on_slow_link=hold),
                       cloud_clock=http.cloud_now)
    events: list[EngineEvent] = []
    engine = JobEngine(repo, runner, probe=http.get_balance, clock=clock, link=link,
                       on_event=events.append,
                       config=EngineConfig(max_concurrent=concurrency, lease_seconds=3,
                                           probe_backoff=FAST, pause_recheck_seconds=0.3,
                                           held_recheck_seconds=0.2, idle_seconds=1.0))
    intake = Intake(repo, root / "out", root / "quarantine", clock)
    return JobEnv(root, cloud_db, repo, engine, intake, http, url, events)


@pytest.fixture
def env(tmp_path: Path, demo_cloud) -> Iterator[JobEnv]:
    e = build_env(tmp_path, tmp_path / "cloud.sqlite3", demo_cloud.url)
    e.engine.start()
    yield e
    e.engine.stop(timeout=10)
    e.http.close()


@pytest.fixture
def proxied(tmp_path: Path, proxy: FaultProxy) -> Iterator[JobEnv]:
    """The job path talking to the demo cloud through the fault proxy (1 s timeouts)."""
    e = build_env(tmp_path, tmp_path / "cloud.sqlite3", proxy.url, timeout=1.0)
    e.engine.start()
    yield e
    proxy.clear()
    e.engine.stop(timeout=10)
    e.http.close()
