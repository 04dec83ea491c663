"""jobs_drain's pacing table (issue 14): a backlog drained by two replaying processes on one
store against the demo cloud's rate limit, paced (shipped) beside unpaced (baseline), in one
run. The 429s are the cloud's own count (GET /demo/state "requests"); the floor is the time the
limit allows: jobs x requests per job / rate, counting the requests that did work (not the ones
refused with 429). Process start-up (~1 s) is inside the measured time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.core.jobs import FINAL, JobState
from app.orchestration.job_path import JobPath
from app.runtime import Options, Runtime
from benchmarks._jobs_support import CloudProcess, photos

TOKEN = "demo-token"
ROOT = Path(__file__).resolve().parents[1]


def _queue(home: Path, url: str, n: int) -> Path:
    runtime = Runtime(Options(home=str(home), cloud_url=url))
    jp = JobPath(runtime, use_default_link=False)
    try:
        for path in photos(home.parent / "hot", n):
            jp.intake.take(path, "background_removal", origin="cli")
    finally:
        jp.close()
        runtime.close()
    return runtime.paths.store_file


def _finished(home: Path, url: str) -> tuple[int, int]:
    runtime = Runtime(Options(home=str(home), cloud_url=url))
    try:
        from app.adapters.store.jobs_repo import JobsRepo

        counts = JobsRepo(runtime.db).counts()
        return counts.count(*FINAL), counts.count(JobState.SUCCEEDED)
    finally:
        runtime.close()


def run(root: Path, n: int, mode: str, rate: float, processes: int = 2,
        timeout: float = 1800) -> tuple[object, ...]:
    """One row: mode, jobs, requests, 429s, seconds, floor, seconds/floor, check."""
    root.mkdir(parents=True)
    cloud = CloudProcess(root / "cloud.sqlite3", rate_limit=rate)
    try:
        home = root / "home"
        _queue(home, cloud.url, n)
        env = {**os.environ, "BOOTH_MONITOR_TOKEN": TOKEN}
        start = time.perf_counter()
        children = [subprocess.Popen(
            [sys.executable, "-m", "benchmarks._drain_child", str(home), cloud.url, mode,
             str(timeout)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True) for _ in range(processes)]
        for child in children:
            child.communicate(timeout=timeout + 60)
        seconds = time.perf_counter() - start
        seen = httpx.get(f"{cloud.url}/demo/state",
                         headers={"Authorization": f"Bearer {TOKEN}"}).json()["requests"]
    finally:
        cloud.close()
    final, ok = _finished(home, cloud.url)
    worked = seen["total"] - seen["rate_limited"]
    floor = worked / rate
    check = f"{ok}/{n} ok" if final == n else f"{final}/{n} finished"
    return (f"{mode}{' (baseline)' if mode == 'unpaced' else ' (shipped)'}", n,
            f"{worked / n:.2f}", seen["rate_limited"], f"{seconds:.1f}", f"{floor:.1f}",
            f"{seconds / floor:.2f}" if floor else "-", check)


HEADER = ("client", "jobs", "requests/job", "429s (cloud)", "seconds", "floor s",
          "x floor", "check")
