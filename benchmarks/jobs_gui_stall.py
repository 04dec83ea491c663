"""The longest GUI event-loop stall while a 1,000-job backlog drains (target: under 50 ms).

The tray app's pieces as they run: the job worker on its own QThread (intake, store, engine with
the real bandwidth preflight) and the queue window on the GUI thread redrawing every snapshot.
A 5 ms QTimer on the GUI thread measures how late it fires. Baseline rows in the same run: the
same app idle (nothing queued), and the drain with the queue window closed.

The loop runs with QEventLoop.exec(), as the app does: with PySide6 6.12 on Python 3.11,
QCoreApplication.processEvents() and QTest.qWait() drop a reference to None on every call, and
a loop of a few thousand calls aborts the interpreter ("none_dealloc").

    python3 dev.py bench jobs_gui_stall [--n=1000]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QMetaObject, Qt, QThread, QTimer
from PySide6.QtWidgets import QApplication

from app.adapters.intake.hot_folder import Intake
from app.adapters.store import Database
from app.adapters.store.jobs_repo import JobsRepo
from app.core.jobs import FINAL
from app.gui.job_worker import JobWorker, QueueSnapshot
from app.gui.queue_window import QueueWindow
from app.runtime import Options, Runtime, utc_now
from benchmarks._jobs_support import CloudProcess, machine, photos, quantiles, table

TICK_MS = 5


class StallMeter:
    """Records how late each 5 ms tick of the GUI thread fires."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.late.clear()
        self._clock.start()
        self._timer.start(TICK_MS)

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        elapsed = self._clock.nsecsElapsed() / 1e6
        self._clock.restart()
        self.late.append(max(0.0, elapsed - TICK_MS))


def scenario(app: QApplication, root: Path, url: str, n: int, window_open: bool,
             idle_seconds: float = 5.0) -> tuple[list[float], float]:
    home = root / "home"
    runtime = Runtime(Options(home=str(home), cloud_url=url))
    runtime.cloud()
    if n:
        db = Database(runtime.paths.store_file)
        intake = Intake(JobsRepo(db), root / "out", root / "q", utc_now)
        for path in photos(root / "backlog", n):
            intake.take(path, "background_removal")
        db.close()
    worker, thread = JobWorker(runtime, rescan_ms=30_000), QThread()
    worker.moveToThread(thread)
    window = QueueWindow()
    worker.snapshot.connect(window.set_snapshot)
    last: list[QueueSnapshot] = []

    def keep(snap: QueueSnapshot) -> None:
        last[:] = [snap]

    worker.snapshot.connect(keep)
    if window_open:
        window.show()
    meter = StallMeter()
    thread.start()
    loop = QEventLoop()  # the app runs exec(); so do we (and processEvents() leaks, see below)
    started = time.perf_counter()
    deadline = started + (idle_seconds if n == 0 else 900)

    def check() -> None:
        done = n and last and last[-1].counts.count(*FINAL) >= n
        if done or time.perf_counter() > deadline:
            loop.quit()

    checker = QTimer()
    checker.timeout.connect(check)
    checker.start(50)
    meter.start()
    QMetaObject.invokeMethod(worker, "start", Qt.ConnectionType.QueuedConnection)
    loop.exec()
    seconds = time.perf_counter() - started
    meter.stop()
    checker.stop()
    worker.stopped.connect(loop.quit)
    QMetaObject.invokeMethod(worker, "stop", Qt.ConnectionType.QueuedConnection)
    loop.exec()
    thread.quit()
    thread.wait()
    window.close()
    runtime.close()
    return meter.late, seconds


def leaky_pyside() -> bool:
    """PySide6 6.12.0 on Python < 3.12 drops a reference to None, True or False on (nearly) every
    void Qt call (setText, QTimer.start, processEvents...): after a few thousand calls the
    interpreter aborts. Python 3.12 made those objects immortal, which hides the bug there."""
    import PySide6

    return PySide6.__version__.startswith("6.12.0") and sys.version_info < (3, 12)


_PADDING: list[object] = []


def pad_refcounts() -> None:
    """Hold extra references so a measuring run survives the leak (the app must not ship with
    this: pin PySide6 instead)."""
    _PADDING.extend([None, True, False] * 3_000_000)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="jobs_gui_stall")
    parser.add_argument("--n", type=int, default=1000)
    args, _ = parser.parse_known_args(argv)
    logging.getLogger("app").setLevel(logging.ERROR)
    os.environ["BOOTH_MONITOR_TOKEN"] = "demo-token"
    app = QApplication.instance() or QApplication([])
    base = Path(tempfile.mkdtemp(prefix="bench-stall-"))
    import PySide6

    print(f"machine: {machine()}; PySide6 {PySide6.__version__}; Qt platform "
          f"{os.environ['QT_QPA_PLATFORM']}")
    if leaky_pyside():
        print("NOTE: this PySide6 leaks references to None/True/False on Python < 3.12; the run "
              "holds 9M extra references to finish. Pin PySide6-Essentials != 6.12.0.")
        pad_refcounts()
    rows = []
    for label, n, window_open in (("idle, window open (baseline)", 0, True),
                                  (f"draining {args.n}, window closed", args.n, False),
                                  (f"draining {args.n}, window open", args.n, True)):
        root = base / label.split(",")[0].replace(" ", "_") / str(window_open)
        cloud = CloudProcess(root / "cloud.sqlite3")
        try:
            late, seconds = scenario(app, root, cloud.url, n, window_open)
        finally:
            cloud.close()
        p50, p99, worst = quantiles(late)
        rows.append((label, f"{seconds:.1f}", len(late), f"{p50:.2f}", f"{p99:.1f}",
                     f"{worst:.1f}", "yes" if worst < 50 else "NO"))
    table("GUI thread: how late a 5 ms timer fires (ms)",
          ("scenario", "seconds", "ticks", "p50", "p99", "max", "< 50 ms"), rows)
    if _PADDING:
        # Interpreter shutdown frees the padding first and then aborts on the leak; the
        # results are printed, so leave without the shutdown.
        sys.stdout.flush()
        os._exit(0)
    return 0
