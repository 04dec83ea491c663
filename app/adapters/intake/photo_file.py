"""Reading a photo handed to intake: refuse what is not a regular file, read no more than the
cloud accepts (plus one byte to tell "too large"), and say sizes exactly.

Reading the whole file first let a 200 MB file cost 200 MB of memory, `submit /dev/zero` end in
a MemoryError and a FIFO block forever; so the file's type is checked by stat before it is
opened (and again on the open handle, in case it was swapped in between), and the read is capped.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from app.core.errors import MonitorError

MAX_PHOTO_BYTES = 15 * 1024 * 1024  # what the cloud accepts (docs/cloud-api.md)
_CHUNK = 1024 * 1024


class NotAPhoto(MonitorError):
    """A file that cannot be an AI job (empty, not JPEG/PNG, too large, unreadable)."""


class FileBusy(MonitorError):
    """The file is still held open by the program writing it (Windows locks it)."""

    retryable = True


def read_photo(path: Path, limit: int = MAX_PHOTO_BYTES) -> bytes:
    """The file's bytes, at most `limit`; NotAPhoto for anything that cannot be a photo."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NotAPhoto(f"No file at {path}.") from None
    except OSError as exc:
        raise NotAPhoto(f"Cannot read {path.name} ({exc.strerror or exc}).") from None
    _require_regular(path, st.st_mode)
    _require_size(st.st_size, limit)
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    if os.name != "nt":
        # A FIFO swapped in after the stat must not block the open (Windows has no FIFOs in
        # the file system, and no O_NONBLOCK).
        flags |= os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except PermissionError:
        if os.name == "nt":  # the writer still holds it: not settled after all
            raise FileBusy(f"{path.name} is still open in another program.") from None
        raise NotAPhoto(f"{path.name} cannot be read (no permission).") from None
    except OSError as exc:
        raise NotAPhoto(f"{path.name} cannot be read ({exc.strerror or exc}).") from None
    try:
        _require_regular(path, os.fstat(fd).st_mode)
        data = _read_at_most(fd, limit + 1)
    except OSError as exc:
        raise NotAPhoto(f"{path.name} cannot be read ({exc.strerror or exc}).") from None
    finally:
        os.close(fd)
    _require_size(len(data), limit)  # it grew after the stat
    return data


def size_text(size: int, other: int | None = None) -> str:
    """`15.7 MB`; exact bytes when one decimal would make two different sizes look equal."""
    text = f"{size / 1e6:.1f} MB"
    if other is not None and f"{other / 1e6:.1f} MB" == text:
        return f"{size:,} bytes"
    return text


def _require_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = ("a folder" if stat.S_ISDIR(mode) else "a pipe" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a plain file")
    raise NotAPhoto(f"{path.name} is {kind}, not a photo file.")


def _require_size(size: int, limit: int) -> None:
    if size > limit:
        raise NotAPhoto(f"The file is {size_text(size, limit)}; the cloud accepts at most "
                        f"{size_text(limit, size)}.")


def _read_at_most(fd: int, most: int) -> bytes:
    chunks: list[bytes] = []
    left = most
    while left > 0:
        chunk = os.read(fd, min(_CHUNK, left))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_PNG_END = b"IEND\xaeB`\x82"


def looks_complete(path: Path) -> bool:
    """Whether a JPEG/PNG ends with its end marker (EOI / IEND): a writer that pauses longer
    than the quiet time leaves a file that has stopped changing but is not whole. Files that
    are neither are 'complete' here (intake tells the operator what they are); trailing NULs
    and whitespace some writers pad with are allowed after the marker."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64))
            tail = handle.read(64).rstrip(b"\0 \t\r\n")
    except OSError:
        return True  # intake reads it and says why it cannot
    if head.startswith(b"\xff\xd8\xff"):
        return tail.endswith(b"\xff\xd9")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return tail.endswith(_PNG_END)
    return bool(head)  # an empty file is still being written
