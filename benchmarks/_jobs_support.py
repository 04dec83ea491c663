"""Shared helpers for the job-path benchmarks (not a benchmark itself: the name starts with _)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from app.democloud.images import make_png
from benchmarks._machine import machine as shared_machine

_CLOUD_CHILD = """
import sys
from pathlib import Path
from app.democloud.server import DemoCloud
cloud = DemoCloud(Path(sys.argv[1]), job_seconds=float(sys.argv[2]),
                  rate_limit=float(sys.argv[3]), rate_burst=int(float(sys.argv[3]) * 2))
cloud.start()
print(cloud.url, flush=True)
sys.stdin.read()  # until the parent closes our stdin
cloud.stop()
"""


class CloudProcess:
    """The demo cloud in its own process, so its threads do not share our GIL (a real cloud
    is on another machine; an in-process one would inflate every latency we measure)."""

    def __init__(self, db: Path, *, job_seconds: float = 0.2, rate_limit: float = 10_000):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CLOUD_CHILD, str(db), str(job_seconds), str(rate_limit)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[1])
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        # The seeded demo account holds ~$100: enough for a few hundred jobs, not a backlog.
        httpx.post(f"{self.url}/demo/scenarios/coupon-bonus", json={"amount_cents": 5_000_000},
                   headers={"Authorization": "Bearer demo-token"}).raise_for_status()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def photos(folder: Path, n: int, start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + n):
        path = folder / f"guest-{i:05d}.png"
        path.write_bytes(make_png(8 + i % 50, 8 + i // 50 % 50, (i % 251, i // 251 % 251, 7)))
        out.append(path)
    return out


def machine() -> str:
    return shared_machine(dated=True)


def quantiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """(p50, p99, max) of a list of samples."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def now() -> float:
    return time.perf_counter()
