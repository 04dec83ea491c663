#!/usr/bin/env python3
"""One-command setup for people and CI: creates .venv, installs the project, then runs a task.

    python3 dev.py run [app args]   set up, then start the tray app on the embedded demo cloud
    python3 dev.py test [pytest args] set up (with test extras), lint, run the whole test suite
    python3 dev.py bench [name]     set up, then run the benchmarks and print their tables

Standard library only, and no shell, so the same command works on Windows (`py dev.py run`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
# A real X server and system tray for the tray tests, and the X libraries Qt's xcb plugin needs.
# Installed only on Linux, only as root, only when missing; without them those tests skip.
DESKTOP_TEST_PACKAGES = [
    "xvfb", "trayer", "xdotool", "libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1",
    "libxcb-image0", "libxcb-render-util0", "libxcb-xkb1", "libxkbcommon-x11-0",
    "libxcb-shape0", "libxcb-randr0", "libxcb-xinerama0",
]


def venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def ensure_env(extras: str) -> Path:
    """Create the venv and (re)install when pyproject.toml or the wanted extras changed."""
    py = venv_python()
    if not py.exists():
        print(f"dev.py: creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    stamp = VENV / ".installed"
    want = _fingerprint(extras)
    have = stamp.read_text().strip() if stamp.exists() else ""
    # An environment with test extras also serves `run`; never downgrade it.
    if have != want and not (extras == "" and have == _fingerprint("[test]")):
        target = f"{ROOT}{extras}"
        print(f"dev.py: installing booth-credit-monitor{extras} into {VENV}", flush=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", target], check=True)
        stamp.write_text(want)
    return py


def ensure_desktop_test_packages() -> None:
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    query = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}\\n",
                            *DESKTOP_TEST_PACKAGES], capture_output=True, text=True)
    installed = [line for line in query.stdout.splitlines() if line.startswith("ii")]
    if len(installed) == len(DESKTOP_TEST_PACKAGES):
        return
    print("dev.py: installing Debian packages for the real-tray tests: "
          + " ".join(DESKTOP_TEST_PACKAGES), flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"stdout": subprocess.DEVNULL, "env": env}
    ok = subprocess.call(["apt-get", "update", "-qq"], **quiet) == 0 and subprocess.call(
        ["apt-get", "install", "-y", "-qq", *DESKTOP_TEST_PACKAGES], **quiet) == 0
    if not ok:
        print("dev.py: could not install them; the real-tray tests will be skipped",
              file=sys.stderr)


def _fingerprint(extras: str) -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("run", [])
    if task == "run":
        py = ensure_env("")
        return subprocess.call([str(py), "-m", "app", "--demo", *rest])
    if task == "test":
        py = ensure_env("[test]")
        ensure_desktop_test_packages()
        lint = subprocess.call([str(py), "-m", "ruff", "check", "app", "tests", "benchmarks",
                               "tools"])
        if lint != 0:
            print("dev.py: ruff found problems (above)", file=sys.stderr)
            return lint
        return subprocess.call([str(py), "-m", "pytest", *rest], cwd=ROOT)
    if task == "bench":
        py = ensure_env("[test]")
        return subprocess.call([str(py), "-m", "benchmarks", *rest], cwd=ROOT)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
