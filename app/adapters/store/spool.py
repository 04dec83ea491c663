"""The spool: a private copy of every queued photo's bytes, kept with its job in the data folder.

A job's idempotency key binds one set of bytes. If only the original's path were kept, a photo
deleted or overwritten by the booth software after an upload whose answer was lost could never be
sent again under its key, and the job would have to guess whether the cloud charged for it. So
intake copies the bytes it hashed into the spool (written, fsynced, renamed into place) before the
job is committed, every (re-)send reads the spool, and the copy is removed once the result is
delivered or the operator removed the job.

A copy rather than a hard link: booth software that rewrites a photo in place would change a
linked spool file too. Files are private to this user (0600 on POSIX; on Windows the data folder
under %LOCALAPPDATA% already carries a per-user ACL, and os.chmod cannot express more).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from app.adapters.system.durable import make_private, sync_folder
from app.core.errors import StorageError

log = logging.getLogger(__name__)

SUFFIX = ".photo"


class SpoolWriter:
    """Stream bytes into a new spool file; `commit()` makes it durable and returns its path.
    Leaving the `with` block without committing removes the partial file."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.size = 0
        self.sha256 = hashlib.sha256()
        self._tmp: str | None = None
        self._file: BinaryIO | None = None

    def __enter__(self) -> SpoolWriter:
        self.folder.mkdir(parents=True, exist_ok=True)
        make_private(self.folder, folder=True)
        fd, self._tmp = tempfile.mkstemp(prefix=".spool-", suffix=".part", dir=self.folder)
        self._file = os.fdopen(fd, "wb")  # mkstemp creates it 0600 on POSIX
        return self

    def write(self, chunk: bytes) -> None:
        assert self._file is not None
        self._file.write(chunk)
        self.sha256.update(chunk)
        self.size += len(chunk)

    def commit(self) -> Path:
        assert self._tmp is not None and self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        target = self.folder / f"{uuid.uuid4().hex}{SUFFIX}"
        os.replace(self._tmp, target)
        self._tmp = None
        sync_folder(self.folder)
        return target

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._tmp is not None:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None


def store(data: bytes, folder: Path) -> str:
    """A new durable spool file holding `data`; StorageError if the data folder refuses."""
    try:
        with SpoolWriter(folder) as writer:
            writer.write(data)
            return str(writer.commit())
    except OSError as exc:
        raise StorageError(f"Cannot keep a copy of the photo in {folder} ({exc.strerror}).",
                           hint="Check that the disk is not full.") from None


def duplicate(path: str, folder: Path) -> str:
    """Another spool file with the same bytes (an operator retry that becomes a new job). Spool
    files are never changed in place, so a hard link is safe here; a copy where links fail."""
    target = folder / f"{uuid.uuid4().hex}{SUFFIX}"
    try:
        os.link(path, target)
    except OSError:
        shutil.copyfile(path, target)
    return str(target)


def discard(path: str | None) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)


def prune(folder: Path, keep: set[str], older_than: float, now: float) -> int:
    """Remove spool files no job needs any more. Files younger than `older_than` seconds (by
    mtime, against `now` on the wall clock) stay: another process may be about to commit the
    job that names one."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    kept = {os.path.normcase(os.path.abspath(p)) for p in keep}
    for entry in entries:
        if os.path.normcase(os.path.abspath(entry.path)) in kept:
            continue
        try:
            if now - entry.stat().st_mtime < older_than:
                continue
            os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
    return removed

