"""One line describing the machine a benchmark ran on, printed beside every table."""

from __future__ import annotations

import os
import platform
from datetime import date
from pathlib import Path


def machine(*, dated: bool = False) -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:  # not Linux: fall back to what platform knows
        pass
    text = (f"{os.cpu_count()} CPUs ({model or platform.processor() or 'unknown'}), "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")
    return f"{date.today().isoformat()}, {text}" if dated else text
