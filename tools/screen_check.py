"""Render every window and dialog of the tray app on an emulated booth screen, save PNGs, and
report any button or input that lies outside the screen or is clipped.

    .venv/bin/python tools/screen_check.py --width 1366 --height 768 --scale 1.5 --out DIR

The screen is Qt's offscreen platform configured to the given physical size, minus a 40 px
taskbar, and QT_SCALE_FACTOR plays Windows' display scaling. Prints one JSON object:
{"screen": [w, h] (logical), "surfaces": {name: png}, "problems": [...]}; tests/gui/
test_screens.py runs it for each booth screen and fails on any problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

TASKBAR = 40  # physical pixels Windows keeps for the taskbar
# The checkout this file is in, before any installed copy: run from a git worktree, the venv's
# editable install would otherwise render another checkout's windows.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def configure(width: int, height: int, scale: float, folder: Path) -> None:
    config = {"screens": [{"name": "booth", "x": 0, "y": 0, "width": width,
                           "height": height - TASKBAR, "logicalDpi": 96, "dpr": 1.0}]}
    path = folder / "screen.json"
    path.write_text(json.dumps(config))
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={path}"
    os.environ["QT_SCALE_FACTOR"] = f"{scale:g}"
    os.environ.pop("QT_ENABLE_HIGHDPI_SCALING", None)


def wait_for(predicate: Callable[[], object], timeout_ms: int = 30_000) -> None:
    """Spin Qt's event loop until `predicate` holds; these tools drive the real app, whose
    workers answer through queued signals."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: predicate() and loop.quit())
    timer.start(50)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    timer.stop()
    if not predicate():
        raise SystemExit("timed out waiting for the app")


def quit_app(monitor: Any) -> None:
    """Quit without the question, wait for the worker thread, then free the widgets."""
    done: list[bool] = []
    monitor.thread.finished.connect(lambda: done.append(True))
    monitor.confirm_quit = lambda _warning: True
    monitor.quit()
    wait_for(lambda: bool(done))
    monitor.dispose()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=1366)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        configure(args.width, args.height, args.scale, Path(scratch))
        report = run(args, Path(scratch) / "home")
    print(json.dumps(report, indent=2))
    return 0


def run(args: argparse.Namespace, home: Path) -> dict[str, object]:
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication

    from app.core.alerts import Alert
    from app.core.job_notices import quit_warning
    from app.core.jobs import QueueCounts
    from app.gui.first_run import FirstRunDialog
    from app.gui.main import MonitorApp, quit_question
    from app.orchestration.setup_path import ConnectionCheck
    from app.runtime import Options

    app = QApplication(sys.argv[:1])
    screen = app.primaryScreen().availableGeometry()
    tag = f"{args.width}x{args.height}@{round(args.scale * 100)}"
    problems: list[str] = []
    surfaces: dict[str, str] = {}

    def settle() -> None:
        for _ in range(3):
            app.processEvents()

    def check(name: str, widget) -> None:
        settle()
        problems.extend(f"{tag} {name}: {p}" for p in layout_problems(widget, screen))
        png = args.out / f"{name}-{tag}.png"
        widget.grab().save(str(png))
        surfaces[name] = str(png)

    monitor = MonitorApp(app, Options(home=str(home), demo=True), tray_available=False)
    monitor.start()
    wait_for(lambda: monitor.snapshot is not None
             and monitor.snapshot.state.balance_cents is not None)
    wait_for(lambda: monitor.window.activity.rowCount() > 0)
    wait_for(lambda: monitor.jobs.last_queue is not None)
    window = monitor.window
    for n in range(8):  # a busy night's alerts: they must not push anything around
        window.show_alert(Alert(f"test:{n}", f"Alert {n}", "A long alert message that would "
                                "wrap over several lines in a narrow window. " * 2))
    tabs = window.tabs
    for index in range(tabs.count()):
        tabs.setCurrentIndex(index)
        check(f"window-{tabs.tabText(index).split(' (')[0].lower().replace(' ', '-')}", window)
    tabs.setCurrentIndex(0)

    monitor.open_settings()
    dialog = monitor._dialog
    assert dialog is not None
    for index in range(dialog.pages.count()):
        dialog.pages.setCurrentIndex(index)
        check(f"settings-{index + 1}", dialog)
    dialog.reject()

    monitor.show_event_summary()
    summary = monitor._summary_dialog
    assert summary is not None
    wait_for(lambda: summary.summary is not None)
    check("event-summary", summary)
    summary.accept()

    setup = FirstRunDialog(str(home / "data" / "hot-folder"), str(home / "data" / "results"))
    setup.cloud_url.setText("https://cloud.example.com")
    setup.show_check(ConnectionCheck(False, "Not connected: the cloud refused the API token. "
                                     "Check the token in the cloud's dashboard."))
    setup.show()
    check("first-run", setup)
    setup.close()
    setup.deleteLater()

    monitor.tools.show_about()
    assert monitor.tools.about is not None
    check("about", monitor.tools.about)
    monitor.tools.about.reject()

    box, _ = quit_question(window, quit_warning(QueueCounts({"pending": 3})) or "", 3)
    box.show()
    check("quit-question", box)
    box.close()

    menu = monitor.tray.menu
    monitor.tray.demo_menu.menuAction().setVisible(True)
    menu.popup(QPoint(screen.right() - menu.sizeHint().width(), screen.top()))
    menu.aboutToShow.emit()
    check("tray-menu", menu)
    menu.hide()

    quit_app(monitor)
    return {"screen": [screen.width(), screen.height()], "surfaces": surfaces,
            "problems": problems}


def layout_problems(top, screen) -> list[str]:
    """What an operator could not reach or read: a control off the screen, outside its
    window, hidden by its parent's edge (outside a scroll area), or squeezed below its size."""
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QAbstractScrollArea,
        QAbstractSpinBox,
        QComboBox,
        QHeaderView,
        QLineEdit,
        QTabBar,
    )

    found = []
    frame = top.frameGeometry()
    if not screen.contains(frame):
        found.append(f"window {rect(frame)} does not fit the screen {rect(screen)}")
    controls = (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, QTabBar,
                QAbstractItemView, QAbstractScrollArea)
    from PySide6.QtWidgets import QWidget

    for widget in top.findChildren(QWidget):
        if not isinstance(widget, controls) or isinstance(widget, QHeaderView):
            continue  # a table's header scrolls with the table
        if not widget.isVisibleTo(top) or widget.window() is not top:
            continue
        name = describe(widget)
        box = QRect(widget.mapTo(top, widget.rect().topLeft()), widget.size())
        # Inside something that scrolls (a page, a table) it is reached by scrolling; the
        # scroll area itself must then be inside the window.
        scrolled = any(isinstance(a, QAbstractScrollArea) for a in ancestors(widget, top))
        if not scrolled and not top.rect().contains(box):
            found.append(f"{name} {rect(box)} lies outside its window {rect(top.rect())}")
            continue
        if not scrolled and clipped(widget, top, box):
            found.append(f"{name} is cut off by its parent")
        hint = widget.minimumSizeHint()
        if isinstance(widget, QAbstractButton) and (widget.width() < hint.width()
                                                    or widget.height() < hint.height()):
            found.append(f"{name} is squeezed to {widget.width()}x{widget.height()} "
                         f"(needs {hint.width()}x{hint.height()})")
        if isinstance(widget, QAbstractItemView) and widget.height() < 60:
            found.append(f"{name} is only {widget.height()} px tall")
    return found


def clipped(widget, top, box) -> bool:
    """Does an ancestor's edge cut into the widget (its rect, in the window's coordinates)?"""
    from PySide6.QtCore import QRect

    for parent in ancestors(widget, top):
        area = QRect(parent.mapTo(top, parent.rect().topLeft()), parent.size())
        if area.intersected(box) != box:
            return True
    return False


def ancestors(widget, top):
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        yield parent
        parent = parent.parentWidget()


def describe(widget) -> str:
    text = getattr(widget, "text", None)
    label = text() if callable(text) else ""
    return f"{type(widget).__name__}({label!r})" if label else type(widget).__name__


def rect(r) -> str:
    return f"{r.x()},{r.y()} {r.width()}x{r.height()}"


if __name__ == "__main__":
    sys.exit(main())
