"""kill -9 harness for the job path: kill it inside every job step and at random moments, restart
it, check nothing broke.

A parent runs the demo cloud and drops photos into the hot folder in batches; a child process
(benchmarks/kill_child.py) runs the real job path (intake from the hot folder, durable queue,
engine) and is killed hard (Popen.kill: SIGKILL on POSIX, TerminateProcess on Windows, so no
cleanup code runs), then restarted. The kills take turns: one at each of the child's named kill
points (kill_child.KILL_POINTS: after the spool copy, inside the upload, after the cloud's answer,
mid-result...), where the child stops and waits to be killed, then one at a random moment.
Between runs the booth software deletes some photos it already handed over (the queue must not
need them). At the end one child runs to completion and the parent checks:

* every photo has exactly one job, in a final state (succeeded, or failed in the cloud);
* the demo cloud's own ledger: at most one cloud job and one charge per idempotency key, and no
  cloud job whose key the booth does not know (a job the booth lost track of);
* every result is a whole, valid image, and no temporary .part file is left in the output folder;
* PRAGMA integrity_check is ok on the booth's store.

    python3 dev.py bench kill_harness [--kills=42] [--photos=240] [--seed=1]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import queue
import random
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from app.adapters.system.paths import resolve_paths
from app.democloud import images
from app.democloud.server import DemoCloud
from benchmarks.kill_child import KILL_POINTS

CHILD_TIMEOUT = 120.0
POINT_WAIT = 10.0  # how long a child may take to reach its kill point
RANDOM = "a random moment"


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


# -- the parent ---------------------------------------------------------------------------------


@dataclass
class Report:
    runs: int = 0
    kills: int = 0
    photos: int = 0
    at_kill: Counter[str] = field(default_factory=Counter)
    per_point: Counter[str] = field(default_factory=Counter)  # kills, by where they landed
    photos_deleted: int = 0
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
    dropped_hashes: set[str] = set()
    try:
        for n in range(kills):
            target = (*KILL_POINTS, RANDOM)[n % (len(KILL_POINTS) + 1)]
            after = rng.randint(1, 2)
            proc, lines = _spawn(home, cloud.url, until_done=False,
                                 kill_at=None if target == RANDOM else target, kill_after=after)
            report.runs += 1
            _wait_for(lines, "started", CHILD_TIMEOUT)
            # Photos arrive while the child works, so kills also land in the middle of intake.
            kill_at = time.monotonic() + rng.uniform(*kill_window)
            # (at least enough new photos for the kill point to be reached in intake)
            for _ in range(max(batches[n], 0 if target == RANDOM else after)):
                dropped_hashes.add(_drop(hot, dropped))
                dropped += 1
                time.sleep(rng.uniform(0, 0.05))
            if target == RANDOM:
                time.sleep(max(0.0, kill_at - time.monotonic()))
                landed = RANDOM
            else:
                landed = target if _wait_for(lines, f"at {target}", POINT_WAIT) \
                    else f"{target} (not reached)"
            if proc.poll() is None:
                proc.kill()  # SIGKILL / TerminateProcess: no cleanup runs
                proc.wait()
                report.kills += 1
                report.per_point[landed] += 1
                report.at_kill.update(_in_flight(home, root))
                _check_visible_results(report, home)
            report.photos_deleted += _booth_cleans_up(home, rng)
        while dropped < photos:
            dropped_hashes.add(_drop(hot, dropped))
            dropped += 1
        proc, _ = _spawn(home, cloud.url, until_done=True)
        report.runs += 1
        try:
            proc.wait(CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            report.problems.append("the final run did not finish the queue in time")
        report.photos = dropped
        _check(report, home, dropped_hashes, root / "cloud.sqlite3")
    finally:
        cloud.stop()
    report.seconds = time.monotonic() - started
    return report


def _batches(photos: int, parts: int, rng: random.Random) -> list[int]:
    cuts = sorted(rng.randint(0, photos) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, photos], strict=True)]


def _drop(hot: Path, i: int) -> str:
    """Photo number i, written then renamed (how booth software does it); its sha256."""
    data = noise_png(i)
    tmp = hot / f".guest-{i:04d}.png.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, hot / f"guest-{i:04d}.png")
    return hashlib.sha256(data).hexdigest()


def _booth_cleans_up(home: Path, rng: random.Random) -> int:
    """Booth software that deletes photos once the queue took them in (whatever state their
    job is in): the queue must not need them any more."""
    try:
        conn = sqlite3.connect(_store(home), timeout=10)
        taken = sorted(p for (p,) in conn.execute("SELECT source_path FROM jobs"))
        conn.close()
    except sqlite3.Error:
        return 0
    gone = 0
    for path in map(Path, taken):
        if path.exists() and rng.random() < 0.2:
            path.unlink()
            gone += 1
    return gone


def _spawn(home: Path, url: str, *, until_done: bool, kill_at: str | None = None,
           kill_after: int = 1) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    env = {**os.environ, "BOOTH_MONITOR_TOKEN": "demo-token"}
    env.pop("BOOTH_MONITOR_HOME", None)
    extra = ["--until-done"] if until_done else []
    if kill_at:
        extra += [f"--kill-at={kill_at}", f"--kill-after={kill_after}"]
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.kill_child", f"--home={home}",
                             f"--cloud={url}", *extra], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put("")  # EOF: the child ended

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def _wait_for(lines: queue.Queue[str], wanted: str, timeout: float) -> bool:
    """Read the child's lines until `wanted` (True), its end or the timeout (False)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if line == wanted:
            return True
        if line == "":
            return False


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


def _check(report: Report, home: Path, photo_hashes: set[str], cloud_db: Path) -> None:
    conn = sqlite3.connect(_store(home))
    conn.row_factory = sqlite3.Row
    report.checks["integrity_check"] = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if report.checks["integrity_check"] != "ok":
        report.problems.append(f"integrity_check: {report.checks['integrity_check']}")
    jobs = conn.execute("SELECT * FROM jobs WHERE state != 'removed' AND superseded_by IS NULL"
                        ).fetchall()
    conn.close()
    by_hash = Counter(j["content_hash"] for j in jobs)
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
    delivered_by_cloud = {k for (k,) in cloud.execute(
        "SELECT idempotency_key FROM jobs WHERE status = 'succeeded'")}
    cloud.close()
    # A photo the cloud ran (and charged) must reach the booth, whatever became of the file.
    undelivered = [j["id"] for j in jobs if j["state"] != "succeeded"
                   and j["idempotency_key"] in delivered_by_cloud]
    # The demo cloud fails some jobs on purpose; a photo must never fail for any other reason
    # (before the spool, a deleted photo failed as "nothing was sent" after the cloud charged).
    wrong = [j["id"] for j in jobs if j["state"] == "failed"
             and j["last_error_kind"] != "cloud_failed"]
    if wrong:
        report.problems.append(f"{len(wrong)} jobs failed on the booth's side")
    if undelivered:
        report.problems.append(f"{len(undelivered)} jobs the cloud ran but the booth did not "
                               "deliver")
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
    kept = [j["id"] for j in jobs if j["state"] == "succeeded" and j["spool_path"]
            and Path(j["spool_path"]).exists()]
    if kept:
        report.problems.append(f"{len(kept)} delivered jobs still keep their spool copy")
    report.checks["whole results"] = str(whole)
    report.checks[".part files left"] = str(len(parts))
    if parts:
        report.problems.append(f"{len(parts)} temporary files left in the output folder")


def print_report(report: Report) -> None:
    print(f"kill -9 harness: {report.runs} runs, {report.kills} kills survived, "
          f"{report.photos} photos, {report.seconds:.1f} s")
    print(f"\n  kills by where they landed ({report.photos_deleted} photos deleted by the booth "
          "software between runs):")
    for what, n in sorted(report.per_point.items()):
        print(f"    {what:<44} {n:>5}")
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
    parser.add_argument("--kills", type=int, default=42)
    parser.add_argument("--photos", type=int, default=240)
    parser.add_argument("--seed", type=int, default=1)
    args, _ = parser.parse_known_args(argv)
    report = run(kills=args.kills, photos=args.photos, seed=args.seed)
    print_report(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
