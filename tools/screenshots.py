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


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as home:
        monitor = MonitorApp(app, Options(home=home, demo=True), tray_available=False)
        monitor.start()
        wait_for(app, lambda: monitor.snapshot is not None
                 and monitor.snapshot.state.balance_cents is not None)
        wait_for(app, lambda: monitor.window.activity.rowCount() > 0)
        monitor.window.grab().save(str(out / "window.png"))
        menu = monitor.tray.menu
        monitor.tray.demo_menu.menuAction().setVisible(True)
        menu.popup(QPoint(0, 0))
        menu.aboutToShow.emit()
        app.processEvents()
        menu.grab().save(str(out / "tray-menu.png"))
        menu.hide()
        done = []
        monitor.thread.finished.connect(lambda: done.append(True))
        monitor.quit()
        wait_for(app, lambda: bool(done))
        monitor.dispose()
    print(f"wrote {out / 'window.png'} and {out / 'tray-menu.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
