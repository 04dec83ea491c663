"""Render the README's screenshots offscreen against the embedded demo cloud, on the screen a
booth laptop has: 1366 x 768 at 150% scaling (what the window must fit).

    .venv/bin/python tools/screenshots.py [OUT_DIR]     (default docs/images)

An event in miniature runs first: photos dropped in the hot folder, one in two failing after
its charge (so refund claims appear), a duplicate photo, a connection check, a low balance.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.screen_check import configure, quit_app, wait_for


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images").resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        configure(1366, 768, 1.5, Path(scratch))
        shoot(out, Path(scratch) / "home")
    print(f"wrote the screenshots to {out}")
    return 0


def shoot(out: Path, home: Path) -> None:
    from PySide6.QtCore import QEventLoop, QPoint, QTimer
    from PySide6.QtWidgets import QApplication

    from app.democloud.images import make_png
    from app.gui.main import MonitorApp
    from app.runtime import Options

    app = QApplication(sys.argv[:1])

    def pause(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def save(widget, name: str) -> None:
        for _ in range(3):
            app.processEvents()
        widget.grab().save(str(out / name))

    monitor = MonitorApp(app, Options(home=str(home), demo=True, demo_job_failure_rate=0.5),
                         tray_available=False)
    monitor.start()
    wait_for(lambda: monitor.snapshot is not None
             and monitor.snapshot.state.balance_cents is not None
             and monitor.jobs.last_queue is not None)
    monitor.jobs.check_link()
    hot = monitor.jobs.last_queue.folders.hot
    for n in range(6):
        (hot / f"guest-{n:02d}.png").write_bytes(make_png(40 + n, 30))
    (hot / "guest-00-again.png").write_bytes(make_png(40, 30))  # the same photo twice
    wait_for(lambda: monitor.jobs.counts is not None and monitor.jobs.counts.open == 0
             and len(monitor.jobs.last_queue.jobs) == 7, timeout_ms=60_000)
    for _ in range(10):  # sync, file the claims, let the demo cloud decide them
        monitor._refresh.emit()
        pause(1000)
    balance = monitor.snapshot.state.balance_cents
    monitor._settings.emit({"low_balance_cents": balance + 500}, {})  # "Credits running low"
    wait_for(lambda: monitor.snapshot.view().low_balance)
    pause(500)

    window = monitor.window
    window.queue_view.filter.setCurrentIndex(1)  # everything, the duplicate too
    for index, name in enumerate(("window.png", "window-jobs.png", "window-connection.png",
                                  "window-refunds.png", "window-alerts.png")):
        window.tabs.setCurrentIndex(index)
        save(window, name)
    window.tabs.setCurrentIndex(0)

    monitor.open_settings()
    dialog = monitor._dialog
    dialog.pages.setCurrentIndex(1)
    save(dialog, "settings.png")
    dialog.reject()

    monitor.show_event_summary()
    wait_for(lambda: monitor._summary_dialog.summary is not None)
    save(monitor._summary_dialog, "event-summary.png")
    monitor._summary_dialog.accept()

    menu = monitor.tray.menu
    monitor.tray.demo_menu.menuAction().setVisible(True)
    menu.popup(QPoint(0, 0))
    menu.aboutToShow.emit()
    save(menu, "tray-menu.png")
    menu.hide()

    quit_app(monitor)


if __name__ == "__main__":
    sys.exit(main())
