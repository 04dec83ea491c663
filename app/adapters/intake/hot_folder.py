"""The hot folder: booth software drops photos in, each becomes one durable job.

The scanner is Qt-free and does no polling of its own: the tray app calls scan() when its
QFileSystemWatcher reports a change, once more when the last unsettled file should have settled
(scan() says when), and at a low-frequency safety rescan for events a watcher can miss (network
shares, a sleeping laptop). A file is taken only once its size and mtime have not changed for
`quiet_seconds`, because booth software writes a photo in several steps.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from app.adapters.intake.job_files import quarantine, result_path_for, sniff_media_type
from app.adapters.intake.photo_file import (
    MAX_PHOTO_BYTES,
    FileBusy,
    NotAPhoto,
    looks_complete,
    read_photo,
)
from app.adapters.store import spool
from app.adapters.store.jobs_repo import JobsRepo
from app.core.errors import MonitorError
from app.core.jobs import Job, JobState, NewJob

__all__ = ["MAX_PHOTO_BYTES", "FileBusy", "FolderRules", "HotFolderScanner", "Intake", "Intook",
           "NotAPhoto", "Scan"]

log = logging.getLogger(__name__)

# Names booth software, browsers and editors use while a file is still being written.
_TEMP_PATTERNS = (".*", "~*", "*.tmp", "*.part", "*.partial", "*.crdownload", "*.download",
                  "*.why.txt")


@dataclass(frozen=True)
class FolderRules:
    """Which AI feature a photo gets: a subfolder named after a feature (or mapped to one in
    `folder_features`), else the first matching file-name rule, else the default."""

    default_feature: str
    features: frozenset[str]
    folder_features: dict[str, str] = field(default_factory=dict)
    name_rules: tuple[tuple[str, str], ...] = ()

    def feature_for(self, root: Path, path: Path) -> str | None:
        if path.parent != root:
            sub = path.parent.name
            mapped = self.folder_features.get(sub)
            if mapped:
                return mapped
            return sub if sub in self.features else None
        for pattern, feature in self.name_rules:
            if fnmatch.fnmatch(path.name.lower(), pattern.lower()):
                return feature
        return self.default_feature or None

    def subfolders(self) -> set[str]:
        return set(self.features) | set(self.folder_features)


@dataclass(frozen=True)
class Scan:
    ready: list[tuple[Path, str]]  # (photo, feature) that stopped changing
    recheck_in: float | None  # scan again after this many seconds (files still settling)
    # Stopped changing but never became a whole image within `incomplete_seconds`: set aside.
    incomplete: list[tuple[Path, str]] = field(default_factory=list)


class HotFolderScanner:
    def __init__(self, root: Path, rules: FolderRules, *, quiet_seconds: float = 2.0,
                 incomplete_seconds: float = 120.0, exclude: Iterable[Path] = (),
                 monotonic: Callable[[], float] = time.monotonic):
        self.root = root
        self.rules = rules
        self.quiet_seconds = quiet_seconds
        self.incomplete_seconds = incomplete_seconds
        self._exclude = {p.resolve() for p in exclude}
        self._monotonic = monotonic
        self._settling: dict[Path, tuple[tuple[int, int], float]] = {}
        self._taken: dict[Path, tuple[int, int]] = {}

    def folders(self) -> list[Path]:
        """What the watcher should watch: the root and its feature subfolders."""
        found = [self.root]
        for name in sorted(self.rules.subfolders()):
            sub = self.root / name
            if sub.is_dir() and sub.resolve() not in self._exclude:
                found.append(sub)
        return found

    def scan(self) -> Scan:
        now = self._monotonic()
        ready: list[tuple[Path, str]] = []
        incomplete: list[tuple[Path, str]] = []
        seen: set[Path] = set()
        waits: list[float] = []
        for path, feature in self._candidates():
            seen.add(path)
            try:
                st = path.stat()
            except OSError:
                continue  # gone between listing and stat
            sig = (st.st_size, st.st_mtime_ns)
            if self._taken.get(path) == sig:
                continue
            before = self._settling.get(path)
            if before is None or before[0] != sig:
                self._settling[path] = (sig, now)
                waits.append(self.quiet_seconds)
                continue
            left = self.quiet_seconds - (now - before[1])
            if left > 0:
                waits.append(left)
                continue
            # Quiet is not enough (a writer may pause longer than any one window): the image
            # must also end with its end marker, else it is still being written, until the
            # longer deadline says it never will be.
            if not looks_complete(path):
                give_up = self.incomplete_seconds - (now - before[1])
                if give_up > 0:
                    waits.append(min(self.quiet_seconds, give_up))
                    continue
                incomplete.append((path, feature))
                continue
            ready.append((path, feature))
        for gone in set(self._settling) - seen:
            del self._settling[gone]
        for gone in set(self._taken) - seen:
            del self._taken[gone]
        return Scan(ready, min(waits) if waits else None, incomplete)

    def taken(self, path: Path) -> None:
        """Intake dealt with the file (queued, skipped or quarantined): stop looking at it
        until it changes."""
        entry = self._settling.pop(path, None)
        if entry is not None:
            self._taken[path] = entry[0]

    def not_ready(self, path: Path) -> None:
        """The file could not be opened yet (still locked by the writer): wait again."""
        self._settling.pop(path, None)

    def _candidates(self) -> Iterable[tuple[Path, str]]:
        for folder in self.folders():
            try:
                entries = list(os.scandir(folder))
            except OSError as exc:
                log.warning("cannot list the hot folder %s: %s", folder, exc.strerror)
                continue
            for entry in entries:
                if not entry.is_file(follow_symlinks=False) or _is_temp(entry.name):
                    continue
                path = Path(entry.path)
                feature = self.rules.feature_for(self.root, path)
                if feature:
                    yield path, feature


def _is_temp(name: str) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatch(lowered, p) for p in _TEMP_PATTERNS)


@dataclass(frozen=True)
class Intook:
    job: Job | None
    created: bool = False
    quarantined_to: Path | None = None
    reason: str = ""


class Intake:
    """Turns a file into a durable job (or a quarantined file with a note)."""

    def __init__(self, repo: JobsRepo, output: Path, quarantine_folder: Path,
                 clock: Callable[[], datetime]):
        self.repo = repo
        self.output = output
        self.quarantine_folder = quarantine_folder
        self._clock = clock

    def take(self, path: Path, feature: str, origin: str = "hot_folder") -> Intook:
        """For the hot folder: a file that is not a photo is moved to quarantine."""
        try:
            return self.submit(path, feature, origin)
        except NotAPhoto as error:
            return self.set_aside(path, error.message)
        except MonitorError:
            raise  # busy file or a failing store, not this file's fault: tried again later
        except Exception as exc:  # one odd file must never stop the hot folder
            log.error("unexpected error taking %s: %s: %s", path.name, type(exc).__name__, exc)
            return self.set_aside(path, f"It could not be taken ({type(exc).__name__}: {exc}).")

    def set_aside(self, path: Path, reason: str) -> Intook:
        try:
            moved = quarantine(path, self.quarantine_folder, reason, self._clock())
        except OSError as exc:
            # Left where it is; the scanner marks it taken, so it is not tried again until it
            # changes, and the caller shows the reason.
            log.error("cannot quarantine %s: %s", path.name, exc.strerror or exc)
            moved = None
        return Intook(None, quarantined_to=moved, reason=reason)

    def submit(self, path: Path, feature: str, origin: str) -> Intook:
        """For `submit` and the local trigger: a bad file is an error to report, not moved."""
        path = path.resolve()
        try:
            st = path.stat()
        except FileNotFoundError:
            raise NotAPhoto(f"No file at {path}.") from None
        except OSError as exc:
            raise NotAPhoto(f"Cannot read {path.name} ({exc.strerror}).") from None
        known = self.repo.known_file(str(path), feature, st.st_size, st.st_mtime_ns)
        if known is not None:
            return Intook(known, created=False)
        data = read_photo(path, MAX_PHOTO_BYTES)
        if not data:
            raise NotAPhoto("The file is empty.")
        media_type = sniff_media_type(data[:16])
        if media_type is None:
            raise NotAPhoto("The file is not a JPEG or PNG photo.")
        try:
            result = result_path_for(self.output, path, feature, media_type)
        except OSError as exc:
            raise NotAPhoto(f"No result name can be made for {path.name} in {self.output} "
                            f"({exc.strerror or exc}).") from None
        # The bytes just hashed go into the spool before the job exists: whatever the booth
        # software does to the original later, a re-send under the job's key sends these.
        spooled = spool.store(data, self.repo.spool_folder)
        new = NewJob(str(path), feature, hashlib.sha256(data).hexdigest(), len(data),
                     media_type, origin, str(result), st.st_mtime_ns, spool_path=spooled)
        created = False
        try:
            job, created = self.repo.enqueue(new, self._clock())
        finally:
            # The same photo was queued already, is recorded as a duplicate (never sent), or
            # the store failed: the copy is not needed.
            if not created or job.state is JobState.DUPLICATE:
                spool.discard(spooled)
        if created and job.state is JobState.DUPLICATE:
            log.info("%s for %s: %s", path.name, feature, job.last_error)
        elif created:
            log.info("queued %s for %s as %s", path.name, feature, job.id)
        return Intook(job, created)

