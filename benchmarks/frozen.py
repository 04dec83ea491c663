"""The frozen bundle beside the source install, in one run: launch-to-UI time, resident memory
and idle CPU (measured as benchmarks/footprint.py does, interleaved run by run), and disk size.

Disk: the bundle folder (Python included) against the runtime distributions of the source
install in site-packages (PySide6-Essentials, shiboken6, httpx, keyring, platformdirs and what
they pull in; the Python installation itself not counted, which favours the source install).
Builds the bundle first (installer/build.py) unless --bundle=DIR names one. Linux only (/proc).

    python3 dev.py bench frozen [--runs=5] [--idle-seconds=20] [--bundle=DIR]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from benchmarks._machine import machine
from benchmarks.footprint import _option, measure

ROOT = Path(__file__).resolve().parents[1]
NAME = "booth-credit-monitor"
RUNTIME = ["PySide6-Essentials", "httpx", "keyring", "platformdirs"]


def runtime_distributions() -> set[str]:
    """The runtime requirements and theirs, by distribution name (markers for this OS)."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = list(RUNTIME)
    while todo:
        name = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = dist.metadata["Name"].lower()
        if key in seen:
            continue
        seen.add(key)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def source_bytes() -> int:
    total = 0
    for name in runtime_distributions():
        dist = metadata.distribution(name)
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file)))
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


def bundle_bytes(bundle: Path) -> int:
    return sum(Path(top, n).stat().st_size for top, _d, names in os.walk(bundle)
               for n in names if not Path(top, n).is_symlink())


def _bundle(argv: list[str], scratch: Path) -> Path:
    for arg in argv:
        if arg.startswith("--bundle="):
            return Path(arg.split("=", 1)[1])
    dist = scratch / "dist"
    subprocess.run([sys.executable, str(ROOT / "installer" / "build.py"), "--dist", str(dist),
                    "--work", str(scratch / "work"), "--no-installer"], check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    return dist / NAME


def main(argv: list[str] | None = None) -> int:
    argv = argv or []
    if not Path("/proc/self/status").exists():
        print("frozen: needs Linux /proc for memory and CPU readings; skipped")
        return 0
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("frozen: PyInstaller is not installed (pip install -e .[build]); skipped")
        return 0
    runs = int(_option(argv, "runs", 5))
    idle = _option(argv, "idle-seconds", 20)
    with tempfile.TemporaryDirectory() as scratch:
        bundle = _bundle(argv, Path(scratch))
        subjects = {"source (python -m app)": [sys.executable, "-m", "app", "--demo"],
                    "frozen bundle": [str(bundle / NAME), "--demo"]}
        starts: dict[str, list[float]] = {n: [] for n in subjects}
        last = {}
        for run in range(runs):  # interleaved, so drift in load hits both alike
            for name, cmd in subjects.items():
                sample = measure(cmd, idle if run == runs - 1 else 0.0, settle=0.5)
                starts[name].append(sample.start_s)
                last[name] = sample
        disk = {"source (python -m app)": source_bytes(), "frozen bundle": bundle_bytes(bundle)}
    print(f"launch→UI over {runs} runs (median), RSS and CPU over {idle:.0f} s idle; "
          f"{machine()}")
    names = list(subjects)
    header = f"{'metric':<22}" + "".join(f"{n:>24}" for n in names)
    print(header)
    print("-" * len(header))
    rows = [("launch→UI (s)", [statistics.median(starts[n]) for n in names]),
            ("resident memory (MB)", [last[n].rss_mb for n in names]),
            ("idle CPU (%)", [last[n].idle_cpu_pct for n in names]),
            ("disk (MB)", [disk[n] / 1e6 for n in names])]
    for label, values in rows:
        print(f"{label:<22}" + "".join(f"{v:>24.3f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
