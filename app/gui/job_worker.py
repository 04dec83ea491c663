"""The tray app's job worker: the job path on its own QThread, fed by a folder watcher.

The GUI thread only receives QueueSnapshots and Notices. Intake (hashing photos), the store and the
engine's control all live on this thread or on the engine's pool, so draining a backlog never
stalls the tray. The watcher triggers scans; a single-shot timer re-scans when a settling file
should have settled; a slow safety rescan catches events a watcher can miss. The OS network
status (connect QNetworkInformation to network_hint) only makes the engine probe sooner.

Start it after the monitor worker is ready: both use one Runtime, whose cloud client the monitor
worker creates first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal, Slot

from app.adapters.intake.hot_folder import FileBusy, HotFolderScanner
from app.adapters.intake.local_trigger import LocalTrigger
from app.core.errors import MonitorError
from app.core.forecast import known_prices
from app.core.job_notices import Notice, QueueWatch, badge_text
from app.core.job_runner import LinkCheck, RunPolicy
from app.core.jobs import Job, JobState, QueueCounts
from app.orchestration.job_engine import EngineConfig, EngineEvent
from app.orchestration.job_path import JobFolders, JobPath, folder_rules, job_folders, run_policy
from app.runtime import Runtime, utc_now

log = logging.getLogger(__name__)

RESCAN_MS = 30_000
PRICE_ENTRIES = 200  # usage history read for the last price of each feature
PUBLISH_MS = 150  # coalesce bursts of job changes into one redraw
WATCH_MS = 60_000  # "stuck" is judged in minutes; no need to look more often
SNAPSHOT_JOBS = 500


@dataclass(frozen=True)
class QueueSnapshot:
    counts: QueueCounts
    jobs: list[Job] = field(default_factory=list)
    online: bool = True
    offline_reason: str = ""
    folders: JobFolders | None = None
    prices: dict[str, int] = field(default_factory=dict)  # feature -> cents, last seen
    notice_keys: frozenset[str] = frozenset()  # lasting notices whose condition still holds

    @property
    def badge(self) -> str:
        return badge_text(self.counts)


class JobWorker(QObject):
    snapshot = Signal(object)  # QueueSnapshot
    notice = Signal(object)  # app.core.job_notices.Notice
    problem = Signal(str, str)
    # A job finished (this booth's own spending moved the balance) or the cloud came back:
    # the balance is worth a look now rather than at the next interval.
    refresh_wanted = Signal()
    link_changed = Signal()  # the job path lost the cloud or found it again
    ready = Signal()
    stopped = Signal()
    _engine_event = Signal(object)  # from engine threads to this thread

    def __init__(self, runtime: Runtime | Callable[[], Runtime], *, quiet_seconds: float = 2.0,
                 rescan_ms: int = RESCAN_MS, link: LinkCheck | None = None,
                 use_default_link: bool = True, config: EngineConfig | None = None,
                 policy: RunPolicy | None = None):
        super().__init__()
        self._runtime_source = runtime
        self._quiet = quiet_seconds
        self._rescan_ms = rescan_ms
        self._link = link
        self._use_default_link = use_default_link
        self._config = config
        self._policy = policy
        self._jp: JobPath | None = None
        self._scanner: HotFolderScanner | None = None
        self._watcher: QFileSystemWatcher | None = None
        self._trigger: LocalTrigger | None = None
        self._watch = QueueWatch()
        self._timers: dict[str, QTimer] = {}
        self._engine_event.connect(self._on_engine_event)

    # -- lifecycle (on the worker thread) -----------------------------------------------------

    @Slot()
    def start(self) -> None:
        try:
            runtime = (self._runtime_source if isinstance(self._runtime_source, Runtime)
                       else self._runtime_source())
            self._jp = JobPath(runtime, link=self._link, use_default_link=self._use_default_link,
                               config=self._config, policy=self._policy,
                               on_event=self._engine_event.emit)
            self._jp.start()
        except MonitorError as error:
            log.error("job path cannot start: %s", error)
            self.problem.emit("AI jobs cannot start", str(error))
            return
        self._watch.stuck_after = timedelta(minutes=runtime.settings.stuck_queue_minutes)
        self._timers = {name: self._timer(slot, single) for name, slot, single in (
            ("settle", self.rescan, True), ("safety", self.rescan, False),
            ("publish", self._publish, True), ("watch", self._publish, False))}
        self._timers["safety"].start(self._rescan_ms)
        self._timers["watch"].start(WATCH_MS)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._on_directory_changed)
        self._setup_folders()
        self._start_trigger()
        self.rescan()  # photos already in the folder from before the start
        self._publish()
        self.ready.emit()

    @Slot()
    def stop(self) -> None:
        for timer in self._timers.values():
            timer.stop()
        if self._trigger is not None:
            self._trigger.stop()
            self._trigger = None
        if self._jp is not None:
            self._jp.close()  # finishes the steps under way, hands back leases
            self._jp = None
        self.stopped.emit()

    # -- requests from the GUI ----------------------------------------------------------------

    @Slot(list)
    def retry(self, job_ids: list[str]) -> None:
        self._operator("retry", job_ids, "Retry failed")

    @Slot(list)
    def remove(self, job_ids: list[str]) -> None:
        self._operator("remove", job_ids, "Remove failed")

    @Slot(list)
    def send_anyway(self, job_ids: list[str]) -> None:
        self._operator("send_anyway", job_ids, "Send anyway failed")

    @Slot(str)
    def link_recovered(self, summary: str) -> None:
        """A connection check (the operator's, or any other) found the link fast enough:
        held photos go now instead of waiting for the engine's own next look."""
        jp = self._jp
        if jp is None:
            return
        try:
            released = jp.repo.release_held(utc_now(), f"the link recovered ({summary})")
        except MonitorError as error:
            self.problem.emit("Held photos not released", str(error))
            return
        if released:
            log.info("released %d held photos after a good connection check", released)
            jp.engine.wake()
            self._schedule_publish()

    @Slot()
    def resume(self) -> None:
        if self._jp is not None:
            self._jp.engine.resume()
            self._schedule_publish()

    @Slot()
    def network_hint(self) -> None:
        if self._jp is not None:
            self._jp.engine.network_hint()

    @Slot()
    def apply_settings(self) -> None:
        """Settings changed (folders, rules, token): watch the new folders, try again now."""
        jp = self._jp
        if jp is None:
            return
        settings = jp.runtime.settings
        fresh = run_policy(settings)
        jp.runner.policy = replace(jp.runner.policy, retry_budget=fresh.retry_budget,
                                   hold_on_slow_link=fresh.hold_on_slow_link)
        if self._watcher is not None and self._watcher.directories():
            self._watcher.removePaths(self._watcher.directories())
        self._setup_folders()
        if self._trigger is not None:
            self._trigger.stop()
            self._trigger = None
        self._start_trigger()
        jp.engine.resume()
        self.rescan()

    @Slot()
    def rescan(self) -> None:
        jp, scanner = self._jp, self._scanner
        if jp is None or scanner is None:
            return
        self._watch_new_subfolders()
        result = scanner.scan()
        queued = 0
        incomplete = {path for path, _ in result.incomplete}
        for path, feature in result.ready + result.incomplete:
            try:
                intook = (jp.intake.set_aside(path, "The photo stopped changing but is not "
                                              "whole (no image end marker): it may have been "
                                              "cut off while it was written.")
                          if path in incomplete else jp.intake.take(path, feature))
            except FileBusy:
                scanner.not_ready(path)
                continue
            except MonitorError as error:  # the store failed: leave the file for the next scan
                self.problem.emit("Photo not queued", str(error))
                continue
            scanner.taken(path)
            queued += int(intook.created)
            job = intook.job
            if intook.created and job is not None and job.state is JobState.DUPLICATE:
                self.notice.emit(Notice(f"duplicate:{job.id}", "Same photo again",
                                        f"{path.name}: {job.last_error}", "info"))
            if intook.quarantined_to is not None:
                self.notice.emit(Notice(f"quarantine:{path.name}", "Photo set aside",
                                        f"{path.name}: {intook.reason} Moved to "
                                        f"{intook.quarantined_to.parent}.", "warning"))
            elif intook.job is None and intook.reason:  # could not even be moved aside
                self.notice.emit(Notice(f"quarantine:{path.name}", "Photo skipped",
                                        f"{path.name}: {intook.reason} It stays in the hot "
                                        "folder and is tried again once it changes.", "warning"))
        if queued:
            jp.engine.wake()
            self._schedule_publish()
        if result.recheck_in is not None:
            self._timers["settle"].start(int(result.recheck_in * 1000) + 50)

    # -- internals ------------------------------------------------------------------------------

    def _timer(self, slot: Callable[[], None], single: bool) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(single)
        timer.timeout.connect(slot)
        return timer

    def _setup_folders(self) -> None:
        assert self._jp is not None
        self._jp.folders = folders = _refresh_folders(self._jp)
        self._jp.intake.output, self._jp.intake.quarantine_folder = (folders.output,
                                                                     folders.quarantine)
        self._scanner = HotFolderScanner(folders.hot,
                                         folder_rules(self._jp.runtime.settings,
                                                      self._jp.features()),
                                         quiet_seconds=self._quiet,
                                         exclude=(folders.output, folders.quarantine))
        self._watch_new_subfolders()

    def _watch_new_subfolders(self) -> None:
        if self._watcher is None or self._scanner is None:
            return
        have = set(self._watcher.directories())
        new = [str(p) for p in self._scanner.folders() if str(p) not in have]
        if new:
            self._watcher.addPaths(new)

    def _on_directory_changed(self, _path: str) -> None:
        self.rescan()

    def _start_trigger(self) -> None:
        jp = self._jp
        if jp is None or not jp.runtime.settings.local_trigger_enabled:
            return
        try:
            self._trigger = jp.local_trigger()
            self._trigger.start()
        except (OSError, MonitorError) as error:
            self.problem.emit("Local trigger not started",
                              f"Port {jp.runtime.settings.local_trigger_port}: {error}")

    def _operator(self, action: str, job_ids: list[str], title: str) -> None:
        if self._jp is None:
            return
        try:
            getattr(self._jp.repo, action)(job_ids, utc_now())
        except MonitorError as error:
            self.problem.emit(title, str(error))
        self._jp.engine.wake()
        self._schedule_publish()

    @Slot(object)
    def _on_engine_event(self, event: EngineEvent) -> None:
        if event.kind == "problem":
            self.problem.emit("AI job queue", event.message)
        elif event.kind == "slow_link" and event.job and event.job.state is not JobState.HELD:
            self.notice.emit(Notice("slow-sent", "Slow link", f"Sent anyway: {event.message}",
                                    "info"))
        if event.kind in ("online", "offline"):
            self.link_changed.emit()
        if event.kind == "online" or (event.kind == "job" and event.job is not None and (
                event.job.state in (JobState.SUCCEEDED, JobState.FAILED))):
            self.refresh_wanted.emit()
        self._schedule_publish()

    def _schedule_publish(self) -> None:
        timer = self._timers.get("publish")
        if timer is not None and not timer.isActive():
            timer.start(PUBLISH_MS)

    def _publish(self) -> None:
        jp = self._jp
        if jp is None:
            return
        try:
            counts = jp.repo.counts()
            jobs = jp.repo.jobs(limit=SNAPSHOT_JOBS)
            prices = known_prices(jp.cache.recent_entries(PRICE_ENTRIES),
                                  [(j.feature, j.charged_cents) for j in jobs if j.charged_cents])
        except MonitorError as error:
            self.problem.emit("Cannot read the job queue", str(error))
            return
        status = jp.engine.status()
        for item in self._watch.update(counts, utc_now()):
            log.info("notice: %s: %s", item.title, item.message)
            self.notice.emit(item)
        self.snapshot.emit(QueueSnapshot(counts, jobs, status.online, status.offline_reason,
                                         jp.folders, prices,
                                         frozenset(self._watch.active_keys())))


def _refresh_folders(jp: JobPath) -> JobFolders:
    folders = job_folders(jp.runtime)
    folders.create()
    return folders
