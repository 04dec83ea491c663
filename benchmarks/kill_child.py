"""The kill harness's child: the real job path as the tray app runs it, with named kill points.

It takes photos in from the hot folder and works the durable queue until it is killed. Given
`--kill-at=POINT`, it stops dead the `--kill-after`-th time one of its threads reaches that point
inside a job step, says `at POINT` on stdout, and blocks there until the parent kills it
(Popen.kill: SIGKILL on POSIX, TerminateProcess on Windows), so the kill lands exactly between
the two things the point separates. The other threads keep working meanwhile, as they would.

    python3 -m benchmarks.kill_child --home=H --cloud=URL [--until-done] [--kill-at=POINT]
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

# Where a kill can land inside a job's life, in order. Each separates two durable facts.
KILL_POINTS = (
    "photo spooled, job not yet queued",  # a copy exists, the queue does not know it
    "upload started, cloud not reached",  # "sending" recorded, nothing at the cloud
    "upload answered, answer not recorded",  # the cloud made and charged the job
    "status answered, not recorded",  # the cloud finished the job
    "result half written",  # a hidden .part file in the output folder
    "result written, not recorded",  # the result is whole, the job still "downloading"
)


class KillPoint:
    """Blocks the thread that reaches `name` for the `after`-th time, after telling the parent."""

    def __init__(self, name: str | None, after: int = 1):
        self.name = name
        self._left = max(1, after)
        self._lock = threading.Lock()

    def __call__(self, name: str) -> None:
        if name != self.name:
            return
        with self._lock:
            self._left -= 1
            hit = self._left == 0
        if hit:
            print(f"at {name}", flush=True)
            threading.Event().wait()  # until the parent's kill


class VenueLink:
    """Wraps the cloud calls with the delays of a slow venue link, so random kills land inside
    them too, and passes the kill points around each call."""

    def __init__(self, inner: Any, rng: random.Random, point: KillPoint):
        self._inner = inner
        self._rng = rng
        self._point = point

    def submit(self, feature: str, data: bytes, media_type: str, key: str) -> Any:
        self._point("upload started, cloud not reached")
        time.sleep(self._rng.uniform(0, 0.15))  # the upload
        answer = self._inner.submit(feature, data, media_type, key)
        self._point("upload answered, answer not recorded")
        time.sleep(self._rng.uniform(0, 0.15))  # the answer on its way back
        return answer

    def status(self, cloud_job_id: str) -> Any:
        answer = self._inner.status(cloud_job_id)
        if answer.status in ("succeeded", "failed"):
            self._point("status answered, not recorded")
        return answer

    def download_result(self, cloud_job_id: str, target_path: str) -> int:
        size = self._inner.download_result(cloud_job_id, target_path)
        self._point("result written, not recorded")
        return size


def _instrument(point: KillPoint) -> None:
    """Results written in small chunks with pauses (a slow disk), and the intake's spool copy,
    with their kill points."""
    import app.adapters.cloud.jobs as cloud_jobs
    import app.adapters.store.spool as spool

    real_write = cloud_jobs.write_result
    cloud_jobs.CHUNK = 32 * 1024

    def slow(target: Path, chunks: Any) -> int:
        def paced() -> Any:
            for n, chunk in enumerate(chunks):
                if n == 1:
                    point("result half written")
                time.sleep(0.01)
                yield chunk
        return real_write(target, paced())

    cloud_jobs.write_result = slow  # type: ignore[assignment]
    real_store = spool.store

    def store(data: bytes, folder: Path) -> str:
        path = real_store(data, folder)
        point("photo spooled, job not yet queued")
        return path

    spool.store = store  # type: ignore[assignment]


def child(home: str, url: str, until_done: bool, kill_at: str | None = None,
          kill_after: int = 1, lease_seconds: float = 1.5) -> int:
    from app.core.backoff import Backoff
    from app.core.job_runner import RunPolicy
    from app.core.jobs import WORKABLE
    from app.orchestration.job_engine import EngineConfig
    from app.orchestration.job_path import JobPath
    from app.runtime import Options, Runtime

    fast = Backoff(base=0.2, cap=1.0, floor=0.05)
    runtime = Runtime(Options(home=home, cloud_url=url))
    point = KillPoint(kill_at, kill_after)
    _instrument(point)
    rng = random.Random()
    jp = JobPath(runtime, use_default_link=False, policy=RunPolicy(retry_budget=100, backoff=fast),
                 wrap_cloud=lambda inner: VenueLink(inner, rng, point),
                 config=EngineConfig(max_concurrent=3, lease_seconds=lease_seconds,
                                     probe_backoff=fast, idle_seconds=0.5))
    scanner = jp.scanner(quiet_seconds=0.05)
    jp.start()
    print("started", flush=True)
    while True:
        result = scanner.scan()
        for path, feature in result.ready:
            jp.intake.take(path, feature)
            scanner.taken(path)
            jp.engine.wake()
        pending_files = result.ready or result.recheck_in is not None
        if until_done and not pending_files and jp.repo.counts().count(*WORKABLE) == 0:
            break
        time.sleep(0.05)  # the harness polls the folder; the tray app uses a watcher instead
    jp.close()
    runtime.close()
    print("done", flush=True)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kill_child")
    parser.add_argument("--until-done", action="store_true")
    parser.add_argument("--home", required=True)
    parser.add_argument("--cloud", required=True)
    parser.add_argument("--kill-at", choices=KILL_POINTS)
    parser.add_argument("--kill-after", type=int, default=1)
    args = parser.parse_args(argv)
    return child(args.home, args.cloud, args.until_done, args.kill_at, args.kill_after)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
