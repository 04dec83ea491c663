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
from typing import BinaryIO

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


def read_queued(path: Path, limit: int = MAX_PHOTO_BYTES) -> bytes:
    """Re-read a queued photo (its spool copy or the original) for sending, reading at most
    `limit` + 1 bytes: the caller compares them with the hash queued, so a file swapped for a
    huge one or for a pipe or device reads as "changed" without filling memory or blocking.
    OSError (FileNotFoundError included) is the caller's to turn into words."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | (0 if os.name == "nt" else os.O_NONBLOCK)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return _read_at_most(fd, limit + 1)
    finally:
        os.close(fd)


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
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Markers that stand alone (no length): TEM, RST0-7, and SOI itself.
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def looks_complete(path: Path, limit: int = MAX_PHOTO_BYTES) -> bool:
    """Whether a JPEG/PNG holds its end marker (EOI / IEND): a writer that pauses longer than
    the quiet time leaves a file that has stopped changing but is not whole. Files that are
    neither are 'complete' here (intake tells the operator what they are).

    The usual case costs two small reads: the file ends with the marker (padding of NULs or
    whitespace allowed). Only when it does not is the structure walked (PNG chunk lengths,
    JPEG segments and then the scan data up to EOI), because many cameras append data after
    the end marker (a preview, maker notes, a second picture) and such a file is whole; the
    cloud ignores what follows the marker (docs/cloud-api.md section 14). Never more than
    `limit` bytes are read."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64))
            tail = handle.read(64).rstrip(b"\0 \t\r\n")
            if head.startswith(b"\xff\xd8\xff"):
                return tail.endswith(b"\xff\xd9") or _jpeg_has_eoi(handle, min(size, limit))
            if head.startswith(_PNG_SIGNATURE):
                return tail.endswith(_PNG_END) or _png_has_iend(handle, min(size, limit))
    except OSError:
        return True  # intake reads it and says why it cannot
    return bool(head)  # an empty file is still being written


def _png_has_iend(handle: BinaryIO, size: int) -> bool:
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= size:
        handle.seek(pos)
        header = handle.read(8)
        if len(header) < 8:
            return False
        length = int.from_bytes(header[:4], "big")
        if header[4:8] == b"IEND":
            return True
        pos += 12 + length
    return False


def _jpeg_has_eoi(handle: BinaryIO, size: int) -> bool:
    """Walk the segments to the first scan (SOS), then look for EOI in the scan data, where
    an 0xFF byte is always followed by 0x00 or a restart marker unless it starts a marker."""
    pos = 2
    while pos + 4 <= size:
        handle.seek(pos)
        marker = handle.read(4)
        if len(marker) < 4 or marker[0] != 0xFF:
            return False
        kind = marker[1]
        if kind == 0xFF:  # fill byte
            pos += 1
            continue
        if kind == 0xD9:
            return True
        if kind in _JPEG_STANDALONE or kind == 0xD8:
            pos += 2
            continue
        pos += 2 + int.from_bytes(marker[2:4], "big")
        if kind == 0xDA:  # start of scan: entropy-coded data follows
            return _eoi_after(handle, pos, size)
    return False


def _eoi_after(handle: BinaryIO, pos: int, size: int) -> bool:
    handle.seek(pos)
    carry = b""
    while pos < size:
        chunk = handle.read(min(_CHUNK, size - pos))
        if not chunk:
            return False
        pos += len(chunk)
        if b"\xff\xd9" in carry + chunk:
            return True
        carry = chunk[-1:]
    return False
