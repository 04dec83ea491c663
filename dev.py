#!/usr/bin/env python3
"""One-command setup for people and CI: creates .venv, installs the project, then runs a task.

    python3 dev.py run [app args]   set up, then start the tray app on the embedded demo cloud
    python3 dev.py test [pytest args] set up (with test extras), lint, run the whole test suite
    python3 dev.py bench [name]     set up, then run the benchmarks and print their tables
    python3 dev.py build [args]     set up (with the build extra), then make the frozen
                                    one-folder bundle in dist/ (installer/build.py)

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
# The Windows installer's compiler, and Wine to run the installer it makes (64-bit only: the
# installer targets amd64). Without them the installer tests skip and say why.
INSTALLER_TEST_PACKAGES = ["nsis", "wine", "wine64"]
# The MQTT broker the fleet tests start on loopback (issue 13); without it they skip and say why.
BROKER_TEST_PACKAGES = ["mosquitto"]
# The bandwidth benchmark's truth column (iperf3); without it that column says why it is empty.
BENCH_PACKAGES = ["iperf3"]
# Its ndt7 column runs M-Lab's client from npm on Node: Debian's, only where there is no node at
# all (a Node from elsewhere usually brings its own npm, which Debian's would clash with).
NODE_PACKAGES = ["nodejs", "npm"]
LINT_PATHS = ["app", "tests", "benchmarks", "tools", "installer"]


def venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def ensure_env(extras: str) -> Path:
    """Create the venv and (re)install when pyproject.toml or the wanted extras changed. An
    environment installed with more extras serves a task that needs fewer; never downgrade."""
    py = venv_python()
    if not py.exists():
        print(f"dev.py: creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    stamp = VENV / ".installed"
    have = stamp.read_text().split() if stamp.exists() else []
    wanted = set(filter(None, extras.strip("[]").split(",")))
    if have[:1] != [_fingerprint()] or not wanted <= set(have[1:]):
        target = f"{ROOT}{extras}"
        print(f"dev.py: installing booth-credit-monitor{extras} into {VENV}", flush=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", target], check=True)
        stamp.write_text(" ".join([_fingerprint(), *sorted(wanted)]))
    return py


def ensure_test_env() -> Path:
    """The test extras, and the build extra so the frozen-build test runs; where PyInstaller
    cannot be installed, the test extras alone (that test then skips and says why)."""
    try:
        return ensure_env("[test,build]")
    except subprocess.CalledProcessError:
        print("dev.py: could not install the build extra (PyInstaller); the frozen-build test "
              "will be skipped", file=sys.stderr)
        return ensure_env("[test]")


def ensure_debian_packages(packages: list[str], purpose: str, *, recommends: bool = True
                           ) -> None:
    """Installed only on Linux, only as root, only when missing; quietly skipped otherwise."""
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    query = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}\\n", *packages],
                           capture_output=True, text=True)
    installed = [line for line in query.stdout.splitlines() if line.startswith("ii")]
    if len(installed) == len(packages):
        return
    print(f"dev.py: installing Debian packages for {purpose}: " + " ".join(packages),
          flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"stdout": subprocess.DEVNULL, "env": env}
    ok = subprocess.call(["apt-get", "update", "-qq"], **quiet) == 0 and subprocess.call(
        ["apt-get", "install", "-y", "-qq",
         *([] if recommends else ["--no-install-recommends"]), *packages], **quiet) == 0
    if not ok:
        print(f"dev.py: could not install them; the tests for {purpose} will be skipped",
              file=sys.stderr)


def _fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("run", [])
    if task == "run":
        py = ensure_env("")
        return subprocess.call([str(py), "-m", "app", "--demo", *rest])
    if task == "test":
        py = ensure_test_env()
        ensure_debian_packages(DESKTOP_TEST_PACKAGES, "the real tray")
        ensure_debian_packages(INSTALLER_TEST_PACKAGES, "the Windows installer",
                               recommends=False)  # Wine's recommends are ~1 GB of extras
        ensure_debian_packages(BROKER_TEST_PACKAGES, "the MQTT broker", recommends=False)
        lint = subprocess.call([str(py), "-m", "ruff", "check", *LINT_PATHS])
        if lint != 0:
            print("dev.py: ruff found problems (above)", file=sys.stderr)
            return lint
        return subprocess.call([str(py), "-m", "pytest", *rest], cwd=ROOT)
    if task == "bench":
        py = ensure_test_env()
        ensure_debian_packages(BENCH_PACKAGES, "the bandwidth benchmark's truth column",
                               recommends=False)
        if shutil.which("node") is None:
            ensure_debian_packages(NODE_PACKAGES, "the bandwidth benchmark's ndt7 column",
                                   recommends=False)
        return subprocess.call([str(py), "-m", "benchmarks", *rest], cwd=ROOT)
    if task == "build":
        py = ensure_env("[build]")
        return subprocess.call([str(py), str(ROOT / "installer" / "build.py"), *rest], cwd=ROOT)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
