"""Durable enqueue rate: how fast photos become jobs that survive a power cut.

Rows: the store as shipped (WAL, synchronous=FULL: every enqueue is synced before it returns)
against the baseline synchronous=NORMAL (WAL synced only at checkpoints; the last commits can
roll back on power loss), and the whole hot-folder intake (read, sniff, hash, enqueue).

    python3 dev.py bench jobs_enqueue [--n=2000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from app.adapters.intake.hot_folder import Intake
from app.adapters.store import Database
from app.adapters.store.jobs_repo import JobsRepo
from app.core.jobs import NewJob
from app.runtime import utc_now
from benchmarks._jobs_support import machine, now, photos, quantiles, table


def enqueue_run(folder: Path, n: int, synchronous: str) -> list[float]:
    db = Database(folder / f"enqueue-{synchronous}.sqlite3")
    db.query(f"PRAGMA synchronous={synchronous}")
    repo = JobsRepo(db)
    times = []
    for i in range(n):
        new = NewJob(f"/hot/p{i}.jpg", "draw_me", f"{i:064x}", 1000, "image/jpeg", "bench",
                     f"/out/p{i}.jpg")
        start = now()
        repo.enqueue(new, utc_now())
        times.append(now() - start)
    db.close()
    return times


def intake_run(folder: Path, n: int) -> list[float]:
    files = photos(folder / "hot", n)
    db = Database(folder / "intake.sqlite3")
    intake = Intake(JobsRepo(db), folder / "out", folder / "quarantine", utc_now)
    times = []
    for path in files:
        start = now()
        intake.take(path, "draw_me")
        times.append(now() - start)
    db.close()
    return times


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="jobs_enqueue")
    parser.add_argument("--n", type=int, default=2000)
    args, _ = parser.parse_known_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-enqueue-"))
    rows = []
    for label, times in (
        ("enqueue, synchronous=FULL (shipped)", enqueue_run(folder, args.n, "FULL")),
        ("enqueue, synchronous=NORMAL (baseline)", enqueue_run(folder, args.n, "NORMAL")),
        ("hot-folder intake (read+hash+enqueue), FULL", intake_run(folder, args.n)),
    ):
        p50, p99, worst = quantiles(times)
        rows.append((label, args.n, f"{len(times) / sum(times):,.0f}", f"{p50 * 1000:.2f}",
                     f"{p99 * 1000:.2f}", f"{worst * 1000:.1f}"))
    print(f"machine: {machine()}; store in {folder} (the temp folder's disk)")
    table("Durable enqueue", ("what", "jobs", "jobs/s", "p50 ms", "p99 ms", "max ms"), rows)
    return 0
