"""kill -9 harness for the job path: kill it at random moments, restart it, check nothing broke.

A parent runs the demo cloud and drops photos into the hot folder in batches; a child process
runs the real job path (intake from the hot folder, durable queue, engine) and is killed hard at
a random moment (Popen.kill: SIGKILL on POSIX, TerminateProcess on Windows, so no cleanup code
runs), then restarted. At the end one child runs to completion and the parent checks:

* every photo has exactly one job, in a final state (succeeded, or failed in the cloud);
* the demo cloud's own ledger: at most one cloud job and one charge per idempotency key, and no
  cloud job whose key the booth does not know (a job the booth lost track of);
* every result is a whole, valid image, and no temporary .part file is left in the output folder;
* PRAGMA integrity_check is ok on the booth's store.

    python3 dev.py bench kill_harness [--kills=40] [--photos=60] [--seed=1]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.adapters.system.paths import resolve_paths
from app.democloud import images
from app.democloud.server import DemoCloud

LEASE_SECONDS = 1.5  # short, so a killed child's jobs are taken over quickly
CHILD_TIMEOUT = 120.0


def noise_png(seed: int, side: int = 420) -> bytes:
    """A valid PNG that does not compress (random pixels): big enough that uploads, downloads
    and result writes take long enough to be killed in the middle of."""
    rng = random.Random(seed)
    rows = b"".join(b"\x00" + rng.randbytes(side * 3) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (images.PNG_SIGNATURE + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b""))


# -- the child: the job path as the tray app runs it ------------------------------------------


class VenueLink:
    """Wraps the cloud calls with the delays of a slow venue link, so kills land inside them:
    before the upload is answered (the cloud may already have charged), and while a result is
    being written (a .part file exists)."""

    def __init__(self, inner: Any, rng: random.Random):
        self._inner = inner
        self._rng = rng

    def submit(self, feature: str, data: bytes, media_type: str, key: str) -> Any:
        time.sleep(self._rng.uniform(0, 0.15))  # the upload
        answer = self._inner.submit(feature, data, media_type, key)
        time.sleep(self._rng.uniform(0, 0.15))  # the answer on its way back
        return answer

    def status(self, cloud_job_id: str) -> Any:
        return self._inner.status(cloud_job_id)

    def download_result(self, cloud_job_id: str, target_path: str) -> int:
        return self._inner.download_result(cloud_job_id, target_path)


def _slow_result_writes() -> None:
    """Write results in small chunks with pauses, as a slow disk or a big result would."""
    import app.adapters.cloud.jobs as cloud_jobs

    real = cloud_jobs.write_result
    cloud_jobs.CHUNK = 32 * 1024

    def slow(target: Path, chunks: Any) -> int:
        return real(target, (time.sleep(0.01) or c for c in chunks))

    cloud_jobs.write_result = slow  # type: ignore[assignment]


def child(home: str, url: str, until_done: bool) -> int:
    from app.core.backoff import Backoff
    from app.core.job_runner import RunPolicy
    from app.core.jobs import WORKABLE
    from app.orchestration.job_engine import EngineConfig
    from app.orchestration.job_path import JobPath
    from app.runtime import Options, Runtime

    fast = Backoff(base=0.2, cap=1.0, floor=0.05)
    runtime = Runtime(Options(home=home, cloud_url=url))
    _slow_result_writes()
    rng = random.Random()
    jp = JobPath(runtime, use_default_link=False, policy=RunPolicy(retry_budget=100, backoff=fast),
                 wrap_cloud=lambda inner: VenueLink(inner, rng),
                 config=EngineConfig(max_concurrent=3, lease_seconds=LEASE_SECONDS,
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


# -- the parent ---------------------------------------------------------------------------------


@dataclass
class Report:
    runs: int = 0
    kills: int = 0
    photos: int = 0
    at_kill: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def run(kills: int = 40, photos: int = 240, seed: int = 1, workdir: Path | None = None,
        kill_window: tuple[float, float] = (0.0, 1.0)) -> Report:
    rng = random.Random(seed)
    root = Path(workdir or tempfile.mkdtemp(prefix="kill-harness-"))
    home = root / "home"
    hot = resolve_paths(str(home)).data_dir / "hot-folder"
    hot.mkdir(parents=True, exist_ok=True)
    cloud = DemoCloud(root / "cloud.sqlite3", job_seconds=0.3, job_failure_rate=0.1, seed=seed,
                      rate_limit=1000, rate_burst=1000)
    cloud.start()
    report = Report(photos=photos)
    started = time.monotonic()
    batches = _batches(photos, kills + 1, rng)
    dropped = 0
    try:
        for n in range(kills):
            proc = _spawn(home, cloud.url, until_done=False)
            report.runs += 1
            _wait_started(proc)
            # Photos arrive while the child works, so kills also land in the middle of intake.
            kill_at = time.monotonic() + rng.uniform(*kill_window)
            for _ in range(batches[n]):
                dropped = _drop(hot, dropped, 1)
                time.sleep(rng.uniform(0, 0.05))
            time.sleep(max(0.0, kill_at - time.monotonic()))
            if proc.poll() is None:
                proc.kill()  # SIGKILL / TerminateProcess: no cleanup runs
                proc.wait()
                report.kills += 1
                report.at_kill.update(_in_flight(home, root))
                _check_visible_results(report, home)
        dropped = _drop(hot, dropped, photos - dropped)
        proc = _spawn(home, cloud.url, until_done=True)
        report.runs += 1
        try:
            proc.wait(CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            report.problems.append("the final run did not finish the queue in time")
        _check(report, home, hot, root / "cloud.sqlite3")
    finally:
        cloud.stop()
    report.seconds = time.monotonic() - started
    return report


def _batches(photos: int, parts: int, rng: random.Random) -> list[int]:
    cuts = sorted(rng.randint(0, photos) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, photos], strict=True)]


def _drop(hot: Path, start: int, count: int) -> int:
    for i in range(start, start + count):
        tmp = hot / f".guest-{i:04d}.png.tmp"  # written, then renamed: how booth software does it
        tmp.write_bytes(noise_png(i))
        os.replace(tmp, hot / f"guest-{i:04d}.png")
    return start + count


def _spawn(home: Path, url: str, *, until_done: bool) -> subprocess.Popen[str]:
    env = {**os.environ, "BOOTH_MONITOR_TOKEN": "demo-token"}
    env.pop("BOOTH_MONITOR_HOME", None)
    extra = ["--until-done"] if until_done else []
    return subprocess.Popen([sys.executable, "-m", "benchmarks.kill_harness", "--child",
                             f"--home={home}", f"--cloud={url}", *extra], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])


def _wait_started(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    proc.stdout.readline()  # "started" (or EOF if it died): kills land inside the job path


def _store(home: Path) -> Path:
    return resolve_paths(str(home)).data_dir / "monitor.sqlite3"


def _in_flight(home: Path, root: Path) -> Counter[str]:
    """What the killed child was in the middle of, read from what it left behind."""
    found: Counter[str] = Counter()
    try:
        conn = sqlite3.connect(_store(home), timeout=10)
        for state, leased, n in conn.execute(
                "SELECT state, owner IS NOT NULL, COUNT(*) FROM jobs"
                " WHERE state NOT IN ('succeeded', 'failed') GROUP BY 1, 2"):
            found[f"{'mid-step' if leased else 'queued'} {state}"] += n
        known = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        conn.close()
        hot = resolve_paths(str(home)).data_dir / "hot-folder"
        found["photos not yet taken in"] += max(0, len(list(hot.glob("*.png"))) - known)
    except sqlite3.Error:
        found["store not created yet"] += 1
    output = resolve_paths(str(home)).data_dir / "results"
    if output.exists():
        found["half-written .part files"] += sum(1 for p in output.iterdir()
                                                 if p.name.endswith(".part"))
    return found


def _check_visible_results(report: Report, home: Path) -> None:
    """What booth software watching the output folder would see right after the crash: every
    result file under its real name must be whole (temporary files are hidden .part files)."""
    output = resolve_paths(str(home)).data_dir / "results"
    if not output.exists():
        return
    for path in output.iterdir():
        if path.name.startswith("."):
            continue
        try:
            images.validate(path.read_bytes(), "image/png")
        except (OSError, images.InvalidImage) as exc:
            report.problems.append(f"half-written result visible after a kill: {path.name} "
                                   f"({exc})")


def _check(report: Report, home: Path, hot: Path, cloud_db: Path) -> None:
    conn = sqlite3.connect(_store(home))
    conn.row_factory = sqlite3.Row
    report.checks["integrity_check"] = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if report.checks["integrity_check"] != "ok":
        report.problems.append(f"integrity_check: {report.checks['integrity_check']}")
    jobs = conn.execute("SELECT * FROM jobs WHERE state != 'removed' AND superseded_by IS NULL"
                        ).fetchall()
    conn.close()
    by_hash = Counter(j["content_hash"] for j in jobs)
    photo_hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in hot.glob("*.png")}
    missing = photo_hashes - set(by_hash)
    doubled = [h for h, n in by_hash.items() if n > 1]
    open_jobs = [j["id"] for j in jobs if j["state"] not in ("succeeded", "failed")]
    states = Counter(j["state"] for j in jobs)
    report.checks["outcomes"] = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    for label, bad in (("photos without a job", missing), ("photos with two jobs", doubled),
                       ("jobs without an outcome", open_jobs)):
        if bad:
            report.problems.append(f"{len(bad)} {label}")

    cloud = sqlite3.connect(f"file:{cloud_db}?mode=ro", uri=True)
    per_key = Counter(k for (k,) in cloud.execute(
        "SELECT idempotency_key FROM jobs WHERE idempotency_key LIKE 'bcm-%'"))
    charges = Counter(k for (k,) in cloud.execute(
        "SELECT j.idempotency_key FROM ledger_entries l JOIN jobs j ON l.job_id = j.id"
        " WHERE l.kind = 'ai_run' AND j.idempotency_key LIKE 'bcm-%'"))
    per_photo = Counter(cloud.execute(
        "SELECT body_sha256, feature FROM jobs WHERE idempotency_key LIKE 'bcm-%'"))
    cloud.close()
    report.checks["max cloud jobs per photo"] = str(max(per_photo.values(), default=0))
    if max(per_photo.values(), default=0) > 1:
        report.problems.append("a photo was sent as two cloud jobs (two charges)")
    known = {j["idempotency_key"] for j in jobs}
    report.checks["max charges per job"] = str(max(charges.values(), default=0))
    report.checks["max cloud jobs per key"] = str(max(per_key.values(), default=0))
    if max(charges.values(), default=0) > 1 or max(per_key.values(), default=0) > 1:
        report.problems.append("a job was charged or created twice in the cloud")
    if set(per_key) - known:
        report.problems.append(f"{len(set(per_key) - known)} cloud jobs the booth lost track of")

    whole = 0
    for j in jobs:
        if j["state"] != "succeeded":
            continue
        try:
            images.validate(Path(j["result_path"]).read_bytes(), "image/png")
            whole += 1
        except (OSError, images.InvalidImage) as exc:
            report.problems.append(f"result of {j['id']} is not whole: {exc}")
    output = resolve_paths(str(home)).data_dir / "results"
    parts = [p.name for p in output.iterdir() if p.name.endswith(".part")] if output.exists() \
        else []
    report.checks["whole results"] = str(whole)
    report.checks[".part files left"] = str(len(parts))
    if parts:
        report.problems.append(f"{len(parts)} temporary files left in the output folder")


def print_report(report: Report) -> None:
    print(f"kill -9 harness: {report.runs} runs, {report.kills} kills survived, "
          f"{report.photos} photos, {report.seconds:.1f} s")
    print("\n  in the middle of, at the kills (summed over kills):")
    for what, n in sorted(report.at_kill.items()):
        print(f"    {what:<32} {n:>5}")
    print("\n  checks after the final run:")
    for name, value in report.checks.items():
        print(f"    {name:<32} {value}")
    problems = list(dict.fromkeys(report.problems))  # the same file seen after several kills
    shown = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5
                                       else "")
    print(f"\n  result: {'OK' if report.ok else 'FAILED: ' + shown}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kill_harness")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--until-done", action="store_true")
    parser.add_argument("--home")
    parser.add_argument("--cloud")
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--photos", type=int, default=240)
    parser.add_argument("--seed", type=int, default=1)
    args, _ = parser.parse_known_args(argv)
    if args.child:
        return child(args.home, args.cloud, args.until_done)
    report = run(kills=args.kills, photos=args.photos, seed=args.seed)
    print_report(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
