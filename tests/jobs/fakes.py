"""Stand-ins for the runner's network-side ports (the store is always the real SQLite repo)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from app.adapters.store import Database
from app.core.job_runner import CloudJob, LinkReport, LinkVerdict
from app.core.jobs import SourceMissing

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
PHOTO = b"\xff\xd8\xff" + b"photo" * 10
PHOTO_HASH = hashlib.sha256(PHOTO).hexdigest()


class Clock:
    """The booth's two clocks, stepped by hand: the wall clock (what history rows show) and the
    monotonic clock the store's timeline runs on. Time passing moves both (`advance`, or setting
    `now`); `step_wall` moves only the wall clock, as NTP or an operator would."""

    def __init__(self, now: datetime = T0):
        self._now = now
        self.mono = 1000.0

    @property
    def now(self) -> datetime:
        return self._now

    @now.setter
    def now(self, moment: datetime) -> None:
        self.advance((moment - self._now).total_seconds())

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self.mono += max(0.0, seconds)

    def step_wall(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self._now.timestamp()

    def database(self, path: Path) -> Database:
        """A real store file whose timeline runs on this clock."""
        return Database(path, monotonic=self.monotonic, wall=self.wall, boot_id=lambda: "boot-1")


@dataclass
class FakeCloud:
    """Answers from a script: each entry is a CloudJob to return or an exception to raise."""

    submits: list[object] = field(default_factory=list)
    statuses: list[object] = field(default_factory=list)
    downloads: list[object] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)

    def submit(self, feature: str, data: bytes, media_type: str, key: str) -> CloudJob:
        self.keys.append(key)
        return self._next(self.submits, CloudJob("job_1", "queued", charged_cents=0))

    def status(self, cloud_job_id: str) -> CloudJob:
        return self._next(self.statuses, CloudJob(cloud_job_id, "succeeded", charged_cents=150))

    def download_result(self, cloud_job_id: str, target_path: str) -> int:
        answer = self._next(self.downloads, 42)
        self.written[target_path] = answer
        return answer

    @staticmethod
    def _next(script: list[object], default):
        answer = script.pop(0) if script else default
        if isinstance(answer, BaseException):
            raise answer
        return answer


class FakeFiles:
    def __init__(self, files: dict[str, bytes] | None = None):
        self.files = files if files is not None else {"/in/p.jpg": PHOTO}

    def read(self, path: str) -> bytes:
        if path not in self.files:
            raise SourceMissing(f"The photo {Path(path).name} was deleted.")
        return self.files[path]


class FakeLink:
    def __init__(self, verdict: LinkVerdict = LinkVerdict.OK):
        self.verdict = verdict
        self.checks = 0

    def check(self) -> LinkReport:
        self.checks += 1
        return LinkReport(self.verdict, f"{self.verdict.value}: up 1.0 Mbps (need 5)")
