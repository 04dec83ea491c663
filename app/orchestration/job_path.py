"""The job path, assembled from a Runtime: intake, durable queue, runner, engine.

The command line, the tray app's job worker and the kill harness all build it here, so they share
folders, settings and rules. It opens its own connection to the shared store file: the job
engine's threads then never wait on the balance sync's lock (SQLite keeps the two apart).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.adapters.cloud.client import HttpCloud
from app.adapters.cloud.jobs import CloudJobs
from app.adapters.intake.hot_folder import FolderRules, HotFolderScanner, Intake
from app.adapters.intake.job_files import LocalFiles, remove_leftover_parts
from app.adapters.intake.local_trigger import LocalTrigger, trigger_token
from app.adapters.store import Database, spool
from app.adapters.store.cache_repo import CacheRepo
from app.adapters.store.jobs_repo import JobsRepo
from app.adapters.system.settings_file import Settings
from app.core.cache import CONTACT_FAILURES
from app.core.errors import MonitorError
from app.core.job_link import LinkCheck, PreflightLink
from app.core.job_runner import JobCloud, JobRunner, RunPolicy
from app.core.jobs import FINAL, WORKABLE, JobState
from app.core.model import KNOWN_FEATURES
from app.orchestration.job_engine import EngineConfig, EngineEvent, JobEngine
from app.runtime import Runtime, utc_now

log = logging.getLogger(__name__)

# Until the cloud's own list is read (docs/cloud-api.md 7.5), the contract's published one.
FEATURES = frozenset(f.id for f in KNOWN_FEATURES)
# A spool file younger than this may belong to a job another process is about to commit.
SPOOL_GRACE_SECONDS = 3600.0


@dataclass(frozen=True)
class JobFolders:
    hot: Path
    output: Path
    quarantine: Path

    def create(self) -> None:
        for folder in (self.hot, self.output, self.quarantine):
            folder.mkdir(parents=True, exist_ok=True)


def default_job_folders(data_dir: Path) -> JobFolders:
    """The folders used while Settings leaves them empty: inside the data folder."""
    return JobFolders(hot=data_dir / "hot-folder", output=data_dir / "results",
                      quarantine=data_dir / "quarantine")


def job_folders(runtime: Runtime) -> JobFolders:
    s, default = runtime.settings, default_job_folders(runtime.paths.data_dir)
    return JobFolders(
        hot=_folder(s.hot_folder, default.hot),
        output=_folder(s.output_folder, default.output),
        quarantine=_folder(s.quarantine_folder, default.quarantine),
    )


def _folder(value: object, default: Path) -> Path:
    return Path(value).expanduser() if isinstance(value, str) and value.strip() else default


def folder_rules(settings: Settings, offered: frozenset[str] = FEATURES) -> FolderRules:
    """Read leniently: a hand-edited settings file with a wrong entry loses that entry only.
    `offered`: the features the cloud lists (JobPath.features())."""
    folders = settings.folder_features if isinstance(settings.folder_features, dict) else {}
    rules = settings.feature_rules if isinstance(settings.feature_rules, list) else []
    default = settings.default_feature if settings.default_feature in offered else ""
    return FolderRules(
        default_feature=default, features=offered,
        folder_features={str(k): v for k, v in folders.items() if v in offered},
        name_rules=tuple((str(r[0]), r[1]) for r in rules
                         if isinstance(r, list) and len(r) == 2 and r[1] in offered),
    )


def run_policy(settings: Settings) -> RunPolicy:
    return RunPolicy(retry_budget=max(1, int(settings.job_retry_budget)),
                     hold_on_slow_link=bool(settings.hold_on_slow_link))


def default_link(runtime: Runtime) -> LinkCheck | None:
    """The bandwidth preflight, once the runtime offers one (`runtime.preflight()` returning
    app.core.bandwidth.Preflight). Without it, jobs are sent without a bandwidth check."""
    factory = getattr(runtime, "preflight", None)
    if factory is None:
        return None
    return PreflightLink(factory, float(runtime.settings.preflight_max_age_seconds))


class JobPath:
    def __init__(self, runtime: Runtime, *, link: LinkCheck | None = None,
                 use_default_link: bool = True, config: EngineConfig | None = None,
                 policy: RunPolicy | None = None,
                 on_event: Callable[[EngineEvent], None] | None = None,
                 wrap_cloud: Callable[[JobCloud], JobCloud] | None = None):
        """`wrap_cloud` lets a harness slow down or break the cloud calls (benchmarks)."""
        self.runtime = runtime
        settings = runtime.settings
        self.folders = job_folders(runtime)
        self.folders.create()
        self.db = Database(runtime.paths.store_file)
        self.repo = JobsRepo(self.db)
        self.cache = CacheRepo(self.db)
        self.intake = Intake(self.repo, self.folders.output, self.folders.quarantine, utc_now)
        if link is None and use_default_link:
            link = default_link(runtime)
        self._cloud_lock = threading.Lock()
        self.cloud_jobs = CloudJobs(self._cloud, booth_id=runtime.booth_id)
        cloud: JobCloud = wrap_cloud(self.cloud_jobs) if wrap_cloud else self.cloud_jobs
        self.runner = JobRunner(cloud, self.repo, LocalFiles(), link, utc_now,
                                policy or run_policy(settings), cloud_clock=self._cloud_now)
        self._listeners: list[Callable[[EngineEvent], None]] = [on_event] if on_event else []
        self.engine = JobEngine(
            self.repo, self.runner, probe=lambda: self._cloud().get_balance(), clock=utc_now,
            link=link, on_event=self._dispatch,
            config=config or EngineConfig(max_concurrent=max(1, int(
                settings.max_concurrent_jobs))))

    def _cloud(self) -> HttpCloud:
        # Runtime.cloud() builds the client (and in demo mode starts the demo cloud) on first
        # use; the engine's threads must not race to do that twice.
        with self._cloud_lock:
            return self.runtime.cloud()

    def _cloud_now(self) -> datetime:
        """The cloud's clock as measured from its answers (the booth's until one came)."""
        try:
            return self._cloud().cloud_now()
        except MonitorError:
            return utc_now()

    def features(self) -> frozenset[str]:
        """The AI features the cloud listed when last read (the built-in list before that)."""
        return frozenset(f.id for f in self.runtime.cache.load_cache().features)

    def scanner(self, quiet_seconds: float = 2.0) -> HotFolderScanner:
        return HotFolderScanner(self.folders.hot,
                                folder_rules(self.runtime.settings, self.features()),
                                quiet_seconds=quiet_seconds,
                                exclude=(self.folders.output, self.folders.quarantine))

    def local_trigger(self) -> LocalTrigger:
        """The HTTP trigger for booth software (not started; the caller owns its lifetime)."""
        token = trigger_token(self.runtime.secrets)

        def submit(path: str, feature: str) -> dict[str, Any]:
            job = self.intake.submit(Path(path), feature, "trigger").job
            assert job is not None
            self.engine.wake()
            return job.to_json()

        def lookup(job_id: str) -> dict[str, Any] | None:
            job = self.repo.get(job_id)
            return job.to_json() if job else None

        return LocalTrigger(int(self.runtime.settings.local_trigger_port), token, submit, lookup,
                            self.features())

    def listen(self, listener: Callable[[EngineEvent], None]) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        try:
            self._cloud()  # build the client here, not first on a worker thread
        except MonitorError as error:
            log.warning("job path starts without a cloud: %s", error)  # the queue pauses
        removed = remove_leftover_parts(self.folders.output)
        if removed:
            log.info("removed %d unfinished result files left by an earlier run", removed)
        needed, done = self.repo.spool_files()
        pruned = spool.prune(self.repo.spool_folder, needed, done,
                             older_than=SPOOL_GRACE_SECONDS, now=time.time())
        if pruned:
            log.info("removed %d spooled photos no job needs any more", pruned)
        self.engine.start()

    def close(self) -> None:
        self.engine.stop()
        self.db.close()

    def _dispatch(self, event: EngineEvent) -> None:
        try:
            self._note_contact(event)
        except MonitorError as error:  # the link state is a display; the job is what matters
            log.warning("link state not recorded: %s", error)
        for listener in list(self._listeners):
            listener(event)

    def _note_contact(self, event: EngineEvent) -> None:
        """What the job path learnt about the link goes into the state every surface shows,
        so a photo that could not be sent turns the tray, the window and `status` offline."""
        step = event.kind == "job" and event.job is not None
        if step and event.failure in CONTACT_FAILURES:
            self.cache.record_contact(utc_now(), "jobs", event.failure, event.message)
        elif (event.kind == "online" or (step and not event.failure)) and \
                self.cache.load_contact().failing:  # a read is cheaper than a write per step
            self.cache.record_contact(utc_now(), "jobs")

    # -- running on demand (the command line) -----------------------------------------------

    def drive(self, done: Callable[[], bool], *, timeout: float, offline_grace: float = 10.0
              ) -> str:
        """Run the engine in this process until done() or the queue cannot move on its own.
        Returns why it stopped: done | offline | paused | timeout."""
        changed = threading.Event()
        self.listen(lambda event: changed.set())
        self.start()
        deadline = time.monotonic() + timeout
        try:
            while True:
                if done():
                    return "done"
                status = self.engine.status()
                if self._stuck_paused(status.in_flight):
                    return "paused"
                if not status.online and (status.offline_for or 0.0) >= offline_grace:
                    return "offline"
                if time.monotonic() >= deadline:
                    return "timeout"
                changed.wait(0.5)  # bounded: offline time and the deadline move on their own
                changed.clear()
        finally:
            self.engine.stop()

    def _stuck_paused(self, in_flight: list[str]) -> bool:
        """Paused, and nothing the cloud already has is left to follow."""
        if self.repo.pause_state() is None or in_flight:
            return False
        return not self.repo.counts().count(JobState.WAITING_RESULT, JobState.DOWNLOADING)

    def nothing_workable(self) -> bool:
        return self.repo.counts().count(*WORKABLE) == 0

    def job_settled(self, job_id: str) -> bool:
        job = self.repo.get(job_id)
        return job is None or job.state in FINAL or job.state is JobState.HELD


def queue_counts(runtime: Runtime) -> dict[str, Any]:
    """For `status --json` and the tray: the queue's counts, without starting anything."""
    return JobsRepo(runtime.db).counts().to_json()
