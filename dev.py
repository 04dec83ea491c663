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
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"


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


def _fingerprint(extras: str) -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("run", [])
    if task == "run":
        py = ensure_env("")
        return subprocess.call([str(py), "-m", "app", "--demo", *rest])
    if task == "test":
        py = ensure_env("[test]")
        lint = subprocess.call([str(py), "-m", "ruff", "check", "app", "tests", "benchmarks"])
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
