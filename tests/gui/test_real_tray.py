"""The tray app in a real X11 session with a real system tray (Xvfb + trayer), clicked with
xdotool as an operator would. Offscreen Qt has no tray, so this is the only test of the tray path.

Needs Xvfb, trayer, xdotool and Qt's xcb libraries (Debian: xvfb trayer xdotool libxcb-cursor0
libxcb-icccm4 libxcb-keysyms1 ...; `python3 dev.py test` installs them when it runs as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import wait_until

TOOLS = ("Xvfb", "trayer", "xdotool")
missing = [tool for tool in TOOLS if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or bool(missing),
    reason=f"real-tray test needs Linux with {', '.join(missing) or 'X11'} installed",
)

TRAY_CHECK = ("from PySide6.QtWidgets import QApplication, QSystemTrayIcon;"
              "app = QApplication([]);"
              "raise SystemExit(0 if QSystemTrayIcon.isSystemTrayAvailable() else 3)")


def _free_display() -> int:
    for number in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(
                f"/tmp/.X{number}-lock").exists():
            return number
    raise RuntimeError("no free X display number")


@pytest.fixture
def x_session(tmp_path):
    display = f":{_free_display()}"
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    procs = [subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x600x24", "-nolisten",
                               "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_until(lambda: Path(f"/tmp/.X11-unix/X{display[1:]}").exists(), timeout=10)
        procs.append(subprocess.Popen(
            ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
             "--height", "32", "--transparent", "false"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        probe = lambda: subprocess.run([sys.executable, "-c", TRAY_CHECK], env=env,  # noqa: E731
                                       capture_output=True, timeout=20).returncode == 0
        try:
            wait_until(probe, timeout=15, step=0.3)
        except AssertionError:
            pytest.skip("Qt's xcb platform could not load or saw no tray (xcb libraries missing?)")
        yield env
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(5)


def xdotool(env, *args: str) -> str:
    return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True,
                          timeout=10).stdout.strip()


def test_tray_icon_click_opens_window_and_menu_quits(x_session, tmp_path):
    env = {**x_session, "BOOTH_MONITOR_HOME": str(tmp_path / "home"),
           "BOOTH_MONITOR_READY_FILE": str(tmp_path / "ready")}
    app = subprocess.Popen([sys.executable, "-m", "app", "--demo"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: (tmp_path / "ready").exists() or app.poll() is not None, timeout=30)
        assert app.poll() is None, app.communicate()
        log = tmp_path / "home" / "logs" / "monitor-demo.log"
        wait_until(lambda: log.exists() and "ui shown (tray)" in log.read_text(), timeout=10)
        # No window until the operator asks: a tray app starts in the tray.
        assert xdotool(env, "search", "--onlyvisible", "--name", "Booth Credit Monitor") == ""

        xdotool(env, "mousemove", "1012", "16", "click", "1")  # the icon sits top right
        wait_until(lambda: xdotool(env, "search", "--onlyvisible", "--name",
                                   "Booth Credit Monitor"), timeout=10)

        xdotool(env, "mousemove", "1012", "16", "click", "3")  # context menu
        time.sleep(0.5)  # the menu maps asynchronously; keys sent earlier go nowhere
        xdotool(env, "key", "Up", "Return")  # Up from nothing selects the last item: Quit
        assert app.wait(15) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(5)
