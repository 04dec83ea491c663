# PyInstaller runtime hook, run before the app. The windowed Windows executable starts with no
# console: sys.stdout and sys.stderr are None there, and the app's final flush (or a library's
# warning) would fail on them. Point them at the null device instead; the log file has it all.
import os
import sys

for _name in ("stdout", "stderr"):
    if getattr(sys, _name) is None:
        setattr(sys, _name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
