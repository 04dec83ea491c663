"""Files on the job path: reading photos, writing results whole, quarantining what cannot be a job.

Results are written to a hidden temporary file in the output folder itself, synced, then moved
into place with os.replace (atomic on Windows and POSIX alike, because it stays on one volume),
so booth software watching the output folder never sees half a picture.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from app.adapters.intake.photo_file import read_queued
from app.adapters.system.durable import sync_folder
from app.core.errors import MonitorError
from app.core.jobs import OutputFolderError, SourceMissing

log = logging.getLogger(__name__)

PART_PREFIX = ".bcm-"
PART_SUFFIX = ".part"
MEDIA_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png"}
# Most file systems (ext4, NTFS, APFS) allow 255 bytes (or UTF-16 units) per name. A photo whose
# name is already near that gets a result / quarantine name with a feature, counter or note
# appended; those are shortened to fit instead of failing with "File name too long". Room is
# left for the temporary-file prefix and suffix write_result adds.
NAME_LIMIT = 255 - len(PART_PREFIX) - len(PART_SUFFIX) - 10


class SourceUnreadable(MonitorError):
    """The photo exists but cannot be read right now (locked by another program)."""

    retryable = True


class LocalFiles:
    """The runner's SourceFiles port."""

    def read(self, path: str) -> bytes:
        try:
            return read_queued(Path(path))
        except FileNotFoundError:
            raise SourceMissing(
                f"The photo {Path(path).name} was deleted or moved before it could be sent.",
                hint="Nothing was sent or charged for it.") from None
        except OSError as exc:
            raise SourceUnreadable(f"Cannot read the photo {Path(path).name} ({exc.strerror}).",
                                   hint="Another program may hold it open; it will be retried.",
                                   ) from None


def sniff_media_type(head: bytes) -> str | None:
    """What the cloud accepts, told by the first bytes (file names lie, extensions vary)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


def write_result(target: Path, chunks: Iterable[bytes]) -> int:
    """Write `chunks` as `target`, whole or not at all. Disk full and the like become an
    OutputFolderError; the partial file is removed either way."""
    folder = target.parent
    tmp: str | None = None
    size = 0
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{PART_PREFIX}{target.name}.", suffix=PART_SUFFIX,
                                   dir=folder)
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        tmp = None
        sync_folder(folder)
    except OSError as exc:
        raise _output_error(folder, exc) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return size


def _output_error(folder: Path, exc: OSError) -> OutputFolderError:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return OutputFolderError(
            f"The output folder {folder} is full: a finished result could not be saved.",
            hint="Free some space there; the result is kept in the cloud and saved "
            "automatically, without a second charge.")
    return OutputFolderError(
        f"Cannot save a result in the output folder {folder} ({exc.strerror or exc}).",
        hint="Check that the folder exists and is writable; it will be retried.")


def remove_leftover_parts(folder: Path) -> int:
    """Temporary files left by a process killed mid-download: never results, always safe to
    delete (the job is still 'downloading' and fetches its result again)."""
    removed = 0
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if entry.name.startswith(PART_PREFIX) and entry.name.endswith(PART_SUFFIX):
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed += 1
    return removed


def result_path_for(output: Path, source: Path, feature: str, media_type: str) -> Path:
    """`photo.jpg` for Draw Me becomes `photo.draw_me.jpg`; a name already on disk (another
    photo with the same name from an earlier event) gets a counter instead of being replaced."""
    suffix = MEDIA_SUFFIX.get(media_type, source.suffix)
    candidate = output / fit_name(source.stem, f".{feature}{suffix}")
    counter = 2
    while candidate.exists():
        candidate = output / fit_name(source.stem, f".{feature}-{counter}{suffix}")
        counter += 1
    return candidate


def fit_name(stem: str, tail: str, limit: int = NAME_LIMIT) -> str:
    """`stem + tail`, the stem cut (on a character boundary) so the name stays within `limit`
    bytes in UTF-8, which is also within the limit in UTF-16 units (Windows)."""
    room = max(1, limit - len(tail.encode("utf-8")))
    encoded = stem.encode("utf-8")
    if len(encoded) > room:
        stem = encoded[:room].decode("utf-8", errors="ignore").rstrip() or "photo"
    return stem + tail


def quarantine(path: Path, folder: Path, reason: str, at: datetime) -> Path:
    """Move a file that cannot be a job out of the hot folder, with a note saying why."""
    folder.mkdir(parents=True, exist_ok=True)
    note_tail = ".why.txt"  # the note's name must fit too
    target = folder / fit_name(path.stem, path.suffix, NAME_LIMIT - len(note_tail))
    counter = 2
    while target.exists():
        target = folder / fit_name(path.stem, f"-{counter}{path.suffix}",
                                   NAME_LIMIT - len(note_tail))
        counter += 1
    try:
        os.replace(path, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        import shutil  # another volume: copy then delete (rare: a quarantine on another drive)

        shutil.move(str(path), str(target))
    note = target.with_name(target.name + ".why.txt")
    note.write_text(
        f"{path.name} was not sent to the cloud.\n"
        f"Reason: {reason}\n"
        f"Found in: {path.parent}\n"
        f"Moved here: {at.isoformat()}\n"
        "Fix the file and put it back into the hot folder to try again.\n",
        encoding="utf-8")
    log.warning("quarantined %s: %s", path.name, reason)
    return target
