"""Footprint of the tray app: launch-to-UI time, resident memory, idle CPU.

Each figure is printed beside a baseline measured in the same run: a bare PySide6 program that
only shows a tray icon or window. The difference is what the monitor itself costs; the machines
are noisy, so only same-run comparisons mean anything.

Three subjects: the bare baseline, the app with its embedded demo cloud (what `dev.py run` starts;
the demo server's threads count against the app), and the app against a demo cloud running in
another process (closest to a booth talking to the real cloud). Runs offscreen (no tray there, so
the app shows its window instead, which costs a little more than an icon). Memory and CPU are
read from /proc, so this benchmark runs on Linux only.

    python3 dev.py bench footprint [--idle-seconds=60] [--runs=5]
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks._machine import machine

TARGETS = {"start_s": 1.5, "rss_mb": 120.0, "idle_cpu_pct": 0.5}

BARE_QT = """
import os, sys, time
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget
from PySide6.QtGui import QIcon, QPixmap
app = QApplication(sys.argv[:1])
pix = QPixmap(32, 32); pix.fill()
if QSystemTrayIcon.isSystemTrayAvailable():
    tray = QSystemTrayIcon(QIcon(pix)); tray.show()
else:
    w = QWidget(); w.resize(620, 560); w.show()
open(os.environ["BOOTH_MONITOR_READY_FILE"], "w").write(str(time.time()))
app.exec()
"""


@dataclass
class Sample:
    start_s: float
    rss_mb: float
    idle_cpu_pct: float


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def measure(cmd: list[str], idle_seconds: float, settle: float = 3.0) -> Sample:
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready"
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               "BOOTH_MONITOR_READY_FILE": str(ready), "BOOTH_MONITOR_HOME": str(Path(tmp, "h")),
               "BOOTH_MONITOR_TOKEN": "demo-token"}  # for the subject with a cloud apart
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            while not ready.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd} exited with {proc.returncode} before showing a UI")
                if time.monotonic() - started > 60:
                    raise RuntimeError(f"{cmd} showed no UI within 60 s")
                time.sleep(0.005)
            start_s = time.monotonic() - started
            time.sleep(settle)  # let the first sync and lazy imports finish before idling
            rss = _rss_mb(proc.pid)
            cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
            time.sleep(idle_seconds)
            cpu_pct = 100 * (_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
            return Sample(start_s, max(rss, _rss_mb(proc.pid)), cpu_pct)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _option(argv: list[str], name: str, default: float) -> float:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return float(arg.split("=", 1)[1])
    return default


def main(argv: list[str] | None = None) -> int:
    argv = argv or []
    if not Path("/proc/self/status").exists():
        print("footprint: needs Linux /proc for memory and CPU readings; skipped")
        return 0
    idle = _option(argv, "idle-seconds", 60)
    runs = int(_option(argv, "runs", 5))
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "demo-cloud", "--port", str(port), "--db",
             str(Path(tmp) / "cloud.sqlite3")], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            _wait_port(port)
            return _run(idle, runs, {
                "bare Qt": [sys.executable, "-c", BARE_QT],
                "app --demo": [sys.executable, "-m", "app", "--demo"],
                "app, cloud apart": [sys.executable, "-m", "app", "--cloud",
                                     f"http://127.0.0.1:{port}"],
            })
        finally:
            server.terminate()
            server.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the demo cloud did not start")


def _run(idle: float, runs: int, subjects: dict[str, list[str]]) -> int:
    starts: dict[str, list[float]] = {name: [] for name in subjects}
    last: dict[str, Sample] = {}
    # Interleave the subjects run by run so drift in machine load hits both alike.
    for run in range(runs):
        for name, cmd in subjects.items():
            sample = measure(cmd, idle if run == runs - 1 else 0.0, settle=0.5)
            starts[name].append(sample.start_s)
            last[name] = sample
    print(f"launch→UI over {runs} runs (median), RSS and CPU over {idle:.0f} s idle; "
          f"{machine()}")
    names = list(subjects)
    header = f"{'metric':<22}" + "".join(f"{n:>18}" for n in names) + f"{'target':>9}{'met':>5}"
    print(header)
    print("-" * len(header))
    rows = [
        ("launch→UI (s)", "start_s", lambda n: statistics.median(starts[n])),
        ("resident memory (MB)", "rss_mb", lambda n: last[n].rss_mb),
        ("idle CPU (%)", "idle_cpu_pct", lambda n: last[n].idle_cpu_pct),
    ]
    ok = True
    for label, key, get in rows:
        values = [get(n) for n in names]
        met = all(v < TARGETS[key] for v in values[1:])  # the app columns, not the baseline
        ok &= met
        print(f"{label:<22}" + "".join(f"{v:>18.3f}" for v in values)
              + f"{TARGETS[key]:>9}{'yes' if met else 'NO':>5}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
