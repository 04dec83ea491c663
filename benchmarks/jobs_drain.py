"""Draining a backlog, and noticing that the cloud is back.

1. A 1,000-photo backlog (queued while offline) drained from the demo cloud on loopback, at
   concurrency 1 (baseline), 3 (shipped default) and 8, and once against the demo's own rate
   limit (50 requests/s: 429s with Retry-After, honoured).
2. Two replaying processes on one store against the demo cloud's limit (50 requests/s, burst
   100, as the contract publishes): paced to one shared bucket (shipped) beside unpaced
   (baseline); the 429s as the cloud counted them and the time against the limit's floor.
3. Time from the cloud coming back to the first replayed job, with the shipped connectivity
   probe (capped at 8 s, full jitter) against the baseline of retrying on the jobs' own backoff
   (5 s base, 300 s cap). Target: under 10 s.

The demo cloud runs in its own process. Every drained job is checked: succeeded, charged once.

    python3 dev.py bench jobs_drain [--n=1000] [--paced-n=2000] [--trials=3] [--outage=12]
                                    [--only=drain|paced|recovery]
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import httpx

from app.adapters.cloud.client import HttpCloud
from app.adapters.cloud.jobs import CloudJobs
from app.adapters.intake.hot_folder import Intake
from app.adapters.intake.job_files import LocalFiles
from app.adapters.store import Database
from app.adapters.store.jobs_repo import JobsRepo
from app.core.backoff import Backoff
from app.core.job_runner import JOB_BACKOFF, JobRunner, RunPolicy
from app.core.jobs import FINAL, JobState
from app.orchestration.engine_parts import PROBE_BACKOFF
from app.orchestration.job_engine import EngineConfig, EngineEvent, JobEngine
from app.runtime import utc_now
from benchmarks import _paced_drain
from benchmarks._jobs_support import CloudProcess, machine, photos, quantiles, table


class Bench:
    def __init__(self, root: Path, url: str, *, concurrency: int, probe: Backoff = PROBE_BACKOFF):
        self.db = Database(root / "monitor.sqlite3")
        self.repo = JobsRepo(self.db)
        self.http = HttpCloud(url, "demo-token")
        self.events: list[tuple[float, EngineEvent]] = []
        self.changed = threading.Event()
        runner = JobRunner(CloudJobs(lambda: self.http), self.repo, LocalFiles(), None, utc_now,
                           RunPolicy(retry_budget=50))
        self.engine = JobEngine(self.repo, runner, self.http.get_balance, utc_now,
                                on_event=self._event,
                                config=EngineConfig(max_concurrent=concurrency,
                                                    probe_backoff=probe))
        self.intake = Intake(self.repo, root / "out", root / "quarantine", utc_now)
        self.root = root

    def _event(self, event: EngineEvent) -> None:
        self.events.append((time.monotonic(), event))
        self.changed.set()

    def finished(self) -> int:
        return self.repo.counts().count(*FINAL)

    def wait_finished(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.finished() < n:
            if time.monotonic() > deadline:
                return False
            self.changed.wait(0.2)
            self.changed.clear()
        return True

    def close(self) -> None:
        self.engine.stop()
        self.http.close()
        self.db.close()


def drain(root: Path, n: int, concurrency: int, rate_limit: float) -> tuple[float, int, str]:
    cloud = CloudProcess(root / "cloud.sqlite3", rate_limit=rate_limit)
    bench = Bench(root, cloud.url, concurrency=concurrency)
    try:
        for path in photos(root / "hot", n):
            bench.intake.take(path, "background_removal")
        start = time.perf_counter()
        bench.engine.start()
        ok = bench.wait_finished(n, timeout=900)
        seconds = time.perf_counter() - start
        throttled = sum(1 for _, e in bench.events if e.kind == "throttled")
        succeeded = bench.repo.counts().count(JobState.SUCCEEDED)
    finally:
        bench.close()
        cloud.close()
    check = _charged_once(root / "cloud.sqlite3", succeeded) if ok else "did not finish"
    return seconds, throttled, check


def _charged_once(cloud_db: Path, succeeded: int) -> str:
    conn = sqlite3.connect(f"file:{cloud_db}?mode=ro", uri=True)
    worst = conn.execute(
        "SELECT MAX(c) FROM (SELECT COUNT(*) AS c FROM ledger_entries l JOIN jobs j"
        " ON l.job_id = j.id WHERE j.idempotency_key LIKE 'bcm-%' GROUP BY j.idempotency_key)"
        ).fetchone()[0]
    conn.close()
    return f"{succeeded} ok, max {worst} charge/job"


def recovery(root: Path, probe: Backoff, outage: float, jobs: int = 5) -> float | None:
    """Seconds from the end of an outage to the cloud accepting the first queued job."""
    cloud = CloudProcess(root / "cloud.sqlite3")
    bench = Bench(root, cloud.url, concurrency=3, probe=probe)
    try:
        bench.engine.start()
        httpx.post(f"{cloud.url}/demo/scenarios/outage", json={"mode": "drop",
                                                                 "seconds": outage},
                   headers={"Authorization": "Bearer demo-token"}).raise_for_status()
        back_at = time.monotonic() + outage
        for path in photos(root / "hot", jobs):
            bench.intake.take(path, "background_removal")
        bench.engine.wake()
        if not bench.wait_finished(jobs, timeout=outage + 600):
            return None
        accepted = [t for t, e in bench.events if e.kind == "job" and e.job is not None
                    and e.job.state is JobState.WAITING_RESULT and t >= back_at]
        return min(accepted) - back_at if accepted else None
    finally:
        bench.close()
        cloud.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="jobs_drain")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--paced-n", type=int, default=2000)
    parser.add_argument("--only", choices=("drain", "paced", "recovery"))
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--outage", type=float, default=12.0)
    args, _ = parser.parse_known_args(argv)
    logging.getLogger("app").setLevel(logging.ERROR)  # expected outage warnings, not results
    base = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    print(f"machine: {machine()}")

    if args.only in (None, "drain"):
        rows = []
        for label, concurrency, rate in (("concurrency 1 (baseline)", 1, 10_000),
                                         ("concurrency 3 (shipped)", 3, 10_000),
                                         ("concurrency 8", 8, 10_000),
                                         ("concurrency 3, cloud limit 50 req/s", 3, 50)):
            seconds, throttled, check = drain(base / label.replace(" ", "_"), args.n, concurrency,
                                              rate)
            rows.append((label, args.n, f"{seconds:.1f}", f"{args.n / seconds:.1f}", throttled,
                         check))
        table(f"Drain a {args.n}-photo backlog (demo cloud, loopback, job_seconds 0.2)",
              ("setting", "jobs", "seconds", "jobs/s", "429 waits", "check"), rows)
    if args.only in (None, "paced"):
        rows = [_paced_drain.run(base / f"paced-{mode}", args.paced_n, mode, 50.0)
                for mode in ("unpaced", "paced")]
        table(f"Two replaying processes, one store, a {args.paced_n}-job backlog, cloud limit "
              "50 req/s burst 100 (floor: jobs x requests/job / 50 per s)",
              _paced_drain.HEADER, rows)
    if args.only in (None, "recovery"):
        rows = []
        for label, probe in (("active probe, cap 8 s (shipped)", PROBE_BACKOFF),
                             ("job backoff only, 5 s base (baseline)", JOB_BACKOFF)):
            found = [recovery(base / f"rec-{label[:6]}-{t}", probe, args.outage)
                     for t in range(args.trials)]
            ok = [f for f in found if f is not None]
            p50, _, worst = quantiles(ok) if ok else (float("nan"),) * 3
            rows.append((label, len(ok), f"{p50:.1f}", f"{worst:.1f}",
                         "yes" if ok and worst < 10 else "no"))
        table(f"Cloud back -> first replayed job ({args.outage:.0f} s outage, 'drop' mode)",
              ("retry policy", "trials", "p50 s", "max s", "< 10 s"), rows)
    return 0
