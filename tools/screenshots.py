"""Render the README's screenshots offscreen against the embedded demo cloud.

    .venv/bin/python tools/screenshots.py [OUT_DIR]     (default docs/images)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QPoint, QTimer
from PySide6.QtWidgets import QApplication

from app.democloud.images import make_png
from app.gui.main import MonitorApp
from app.runtime import Options


def wait_for(app: QApplication, predicate, timeout_ms: int = 20_000) -> None:
    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: predicate() and loop.quit())
    timer.start(50)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    timer.stop()
    if not predicate():
        raise SystemExit("timed out waiting for the app")


def pause(app: QApplication, ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as home:
        monitor = MonitorApp(app, Options(home=home, demo=True, demo_job_failure_rate=0.5),
                             tray_available=False)
        monitor.start()
        wait_for(app, lambda: monitor.snapshot is not None
                 and monitor.snapshot.state.balance_cents is not None)
        wait_for(app, lambda: monitor.window.activity.rowCount() > 0)
        monitor.window.grab().save(str(out / "window.png"))
        # An event in miniature: a connection check, guests' photos, a failure or two.
        monitor.jobs.check_link()
        wait_for(app, lambda: monitor.jobs.last_queue is not None
                 and monitor.jobs.last_queue.folders is not None)
        hot = monitor.jobs.last_queue.folders.hot
        for n in range(6):
            (hot / f"guest-{n:02d}.png").write_bytes(make_png(40 + n, 30))
        wait_for(app, lambda: len(monitor.jobs.last_queue.jobs) == 6
                 and monitor.jobs.last_queue.counts.open == 0, timeout_ms=60_000)
        for _ in range(12):  # sync, file the claims, let the demo cloud decide them
            monitor._refresh.emit()
            pause(app, 1000)
        for index, name in ((1, "window-jobs.png"), (2, "window-connection.png"),
                            (3, "window-refunds.png")):
            monitor.window.tabs.setCurrentIndex(index)
            app.processEvents()
            monitor.window.grab().save(str(out / name))
        monitor.window.tabs.setCurrentIndex(0)
        menu = monitor.tray.menu
        monitor.tray.demo_menu.menuAction().setVisible(True)
        menu.popup(QPoint(0, 0))
        menu.aboutToShow.emit()
        app.processEvents()
        menu.grab().save(str(out / "tray-menu.png"))
        menu.hide()
        done = []
        monitor.thread.finished.connect(lambda: done.append(True))
        monitor.confirm_quit = lambda _warning: True
        monitor.quit()
        wait_for(app, lambda: bool(done))
        monitor.dispose()
    print(f"wrote window*.png and tray-menu.png to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
