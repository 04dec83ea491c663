"""Small file-system guarantees several edges need: a rename that survives a power cut, and files
only this user can read.

Modes: on POSIX, 0600 files and 0700 folders keep other local accounts out. On Windows os.chmod
only toggles the read-only flag; what keeps other accounts out there is the per-user ACL that
every folder under %LOCALAPPDATA% (where the app keeps its data and logs) inherits, so these
helpers change nothing on Windows and say so here rather than pretend.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def sync_folder(folder: Path) -> None:
    """POSIX needs the folder synced for a rename in it to survive a power cut. Windows cannot
    open a folder this way, and NTFS journals the rename."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def make_private(path: Path, *, folder: bool = False) -> None:
    """Restrict an existing file (or folder) to this user on POSIX; see the module docstring."""
    if os.name == "posix":
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path, PRIVATE_FOLDER if folder else PRIVATE_FILE)


def open_private(path: Path, mode: str = "a", encoding: str | None = None) -> IO[Any]:
    """Open for writing, creating the file 0600 from the first byte (no window in which it is
    readable by others, as chmod after creation would leave)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    flags |= getattr(os, "O_BINARY", 0) if "b" in mode else 0
    fd = os.open(path, flags, PRIVATE_FILE)
    return os.fdopen(fd, mode, encoding=encoding)
