"""`python -m benchmarks [name ...]` (or `python3 dev.py bench [name ...]`): run the named
benchmarks, or all of them, each printing its own table."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


# Short names people type: `dev.py bench bandwidth`.
ALIASES = {"bandwidth": "bandwidth_matrix"}


def main(argv: list[str]) -> int:
    names = [ALIASES.get(a, a) for a in argv if not a.startswith("-")] or available()
    unknown = set(names) - set(available())
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; "
              f"available: {', '.join(available())}", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        status |= int(module.main([a for a in argv if a.startswith("-")]) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
