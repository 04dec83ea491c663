"""Two real `replay` processes draining one store against the demo cloud over loopback HTTP
draw no 429 (issue 14): they pace to one shared bucket, not one each. The cloud's limit is
lowered (and the booth told so in settings.json) so the drain is rate-bound and short; the 429s
are counted on the cloud's side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.adapters.cloud.transport import bucket_key
from app.adapters.store import Database
from app.adapters.store.jobs_repo import JobsRepo
from app.core.jobs import JobState
from app.democloud.images import make_png
from app.democloud.server import DemoCloud
from app.orchestration.job_path import JobPath
from app.runtime import Options, Runtime

TOKEN = "demo-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JOBS = 30
RATE, BURST = 20.0, 20  # the cloud's; the booths pace to 90% of the rate, half the burst


def queue_backlog(home: Path, url: str, photos: Path) -> Path:
    """Returns the store file."""
    runtime = Runtime(Options(home=str(home), cloud_url=url))
    runtime.settings.cloud_rate_limit = RATE
    runtime.settings.cloud_rate_burst = BURST
    runtime.save_settings()
    jp = JobPath(runtime, use_default_link=False)
    try:
        photos.mkdir()
        for n in range(JOBS):
            path = photos / f"guest-{n:03d}.png"
            path.write_bytes(make_png(8 + n, 8, (n, 1, 2)))
            jp.intake.take(path, "background_removal", origin="cli")
    finally:
        jp.close()
        runtime.close()
    return runtime.paths.store_file


def replay(home: Path, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "BOOTH_MONITOR_HOME": str(home), "BOOTH_MONITOR_TOKEN": TOKEN}
    return subprocess.Popen([sys.executable, "-m", "app", "replay", "--json", "--cloud", url,
                             "--timeout", "240"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def test_two_replaying_processes_on_one_store_draw_no_429(home: Path, tmp_path: Path):
    with DemoCloud(tmp_path / "cloud.sqlite3", rate_limit=RATE, rate_burst=BURST,
                   job_seconds=0.1) as cloud:
        store = queue_backlog(home, cloud.url, tmp_path / "photos")
        drains = [replay(home, cloud.url) for _ in range(2)]
        outputs = [d.communicate(timeout=300) for d in drains]
        for drain, (out, err) in zip(drains, outputs, strict=True):
            assert drain.returncode == 0, err
            assert json.loads(out)["stopped"] == "done"
        seen = httpx.get(f"{cloud.url}/demo/state", headers=AUTH).json()["requests"]
        url = cloud.url
    # Enough requests that unpaced (or paced once per process) they would have hit the limit.
    assert seen["total"] > 3 * BURST
    assert seen["rate_limited"] == 0, seen
    db = Database(store)
    try:
        jobs = JobsRepo(db).jobs()
        assert len(jobs) == JOBS and all(j.state is JobState.SUCCEEDED for j in jobs)
        taken = db.query("SELECT taken FROM rate_buckets WHERE key = ?",
                         (bucket_key(url, TOKEN),))[0]["taken"]
    finally:
        db.close()
    assert seen["total"] == taken  # and not one of them went around the shared bucket


def test_the_drain_benchmark_sees_the_baselines_429s_on_the_clouds_side(tmp_path: Path):
    # The benchmark's baseline (unpaced, two processes) against a tight limit must show the
    # 429s the cloud refused, or its side-by-side "0 for the paced client" would prove nothing.
    from benchmarks._paced_drain import HEADER, run

    row = dict(zip(HEADER, run(tmp_path / "bench", 12, "unpaced", rate=4.0), strict=True))
    assert row["client"] == "unpaced (baseline)" and row["check"] == "12/12 ok"
    assert int(row["429s (cloud)"]) > 0
    assert float(row["floor s"]) == pytest.approx(12 * float(row["requests/job"]) / 4.0, rel=0.01)
