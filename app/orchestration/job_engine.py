"""The job engine: claims due jobs in queue order and runs them on a small thread pool.

No Qt here, so the tray app, `replay` and the kill harness all run the same engine. It decides
what the whole queue does, the runner decides what one job does:

* link down (refused, timeout, login page): stop sending and probe the cloud with a tiny
  authenticated JSON request until it answers, then replay in order. The OS network status is only
  a hint to probe sooner (network_hint()).
* throttled (429, 503 + Retry-After): nothing is sent before the time the cloud asked for.
* paused (402 credits, 401 token): no new job is sent (jobs the cloud already has are still
  followed and downloaded: that costs nothing); every few minutes one job is tried again, and
  `replay` or a Settings change resumes at once.

Its own schedule (probes, throttling, lease renewal) is on the monotonic clock; the queue's is on
the store's timeline. The wall clock only stamps what is shown.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from app.adapters.store.jobs_repo import JobsRepo, LeaseLost
from app.core.errors import AuthFailed, CloudUnavailable, MonitorError, NotConfigured
from app.core.job_runner import JobRunner, LinkCheck, LinkVerdict, StepResult
from app.core.jobs import WORKABLE, Action, Job, JobState
from app.orchestration.engine_parts import EngineConfig, EngineEvent, EngineStatus, new_owner_id

log = logging.getLogger(__name__)

# While paused, jobs the cloud already has are still followed: that charges nothing.
FOLLOW_ONLY = frozenset({JobState.WAITING_RESULT, JobState.DOWNLOADING})


class JobEngine:
    def __init__(self, repo: JobsRepo, runner: JobRunner, probe: Callable[[], object],
                 clock: Callable[[], datetime], *, link: LinkCheck | None = None,
                 config: EngineConfig | None = None,
                 on_event: Callable[[EngineEvent], None] | None = None,
                 owner: str | None = None, rng: random.Random | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.repo = repo
        self._runner = runner
        self._probe = probe
        self._clock = clock
        self._mono = monotonic
        self._link = link
        self.config = config or EngineConfig()
        self._on_event = on_event or (lambda event: None)
        self.owner = owner or new_owner_id()
        self._rng = rng or random.Random()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: dict[str, Future[StepResult]] = {}
        self._trial: str | None = None  # the one job tried while the queue is paused
        self._online = True
        self._offline_reason = ""
        self._offline_since: datetime | None = None
        self._offline_mono: float | None = None
        self._probe_failures = 0
        # These are monotonic-clock times.
        self._next_probe: float | None = None
        self._throttled_until: float | None = None
        self._next_held_check: float | None = None
        self._checking_link = False
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        if self._link is not None and self.repo.counts().count(JobState.HELD):
            # Held jobs from an earlier run: look now. Without any, no check: a probe costs
            # megabytes, and booths often start on a metered hotspot.
            self._next_held_check = self._mono()
        self._pool = ThreadPoolExecutor(self.config.max_concurrent + 1,
                                        thread_name_prefix="job-step")
        self._thread = threading.Thread(target=self._loop, name="job-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Finish the steps under way (bounded by the HTTP timeouts), then hand back leases."""
        thread, pool = self._thread, self._pool
        if thread is None or pool is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        pool.shutdown(wait=True, cancel_futures=True)
        self._thread = self._pool = None
        try:
            self.repo.release_owner(self.owner)
        except MonitorError as error:
            log.warning("could not hand back job leases (they expire on their own): %s", error)

    def wake(self) -> None:
        """Something changed (a photo queued, an operator action): look at the queue now."""
        self._wake.set()

    def network_hint(self) -> None:
        """The OS says the network changed: probe now instead of at the next backoff time."""
        with self._lock:
            self._next_probe = self._next_held_check = self._mono()
        self._wake.set()

    def resume(self) -> None:
        """The operator fixed what paused the queue (bought credits, new token): go again."""
        if self.repo.resume():
            self._emit(EngineEvent("resumed", "AI jobs resumed."))
        self.repo.due_now(self._clock())  # jobs parked by the pause go now, in queue order
        with self._lock:
            self._throttled_until = None
            if not self._online:
                self._next_probe = self._mono()
        self._wake.set()

    def status(self) -> EngineStatus:
        mono = self._mono()
        with self._lock:
            throttled = self._throttled_until
            return EngineStatus(
                self._online, self._offline_reason, self._offline_since,
                None if throttled is None else max(0.0, throttled - mono), list(self._in_flight),
                None if self._offline_mono is None else mono - self._offline_mono)

    # -- the control loop -------------------------------------------------------------------

    def _loop(self) -> None:
        last_renew = self._mono()
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                if self._mono() - last_renew >= self.config.lease_seconds / 3:
                    self._renew()
                    last_renew = self._mono()
                wait = self._tick(self._clock())
            except MonitorError as error:  # the store itself failed: tell, then back off
                log.error("job queue: %s", error)
                self._emit(EngineEvent("problem", str(error)))
                wait = self.config.probe_backoff.cap
            except Exception:
                log.exception("job engine loop failed; continuing")
                wait = self.config.probe_backoff.cap
            self._wake.wait(max(0.0, min(wait, self.config.idle_seconds,
                                         self.config.lease_seconds / 3)))

    def _tick(self, now: datetime) -> float:
        """One look at the queue (`now` stamps history rows); returns how long to sleep if
        nothing wakes us."""
        mono = self._mono()
        with self._lock:
            online, next_probe = self._online, self._next_probe
            throttled = self._throttled_until
        if not online:
            if next_probe is None or mono >= next_probe:
                self._submit_probe()
                return self.config.probe_backoff.cap
            return next_probe - mono
        if throttled is not None and mono < throttled:
            return throttled - mono
        self._maybe_check_held(mono)
        states = WORKABLE
        pause = self.repo.pause_state()
        if pause is not None:
            states = FOLLOW_ONLY
            if pause.recheck_in is not None and pause.recheck_in <= 0:
                self._start_trial(now)
        while self._free_slots():
            job = self.repo.claim(self.owner, now, self.config.lease_seconds, states,
                                  follow_ups=True)  # looking costs nothing, even when paused
            if job is None:
                break
            self._submit_step(job)
        return self._sleep_time(mono, states)

    def _start_trial(self, now: datetime) -> None:
        """While paused, send one new job now and then: its answer tells whether the credits
        (or the token) are back. A 402 costs nothing."""
        with self._lock:
            if self._trial is not None or len(self._in_flight) >= self.config.max_concurrent:
                return
        self.repo.due_now(now)  # parked jobs: the oldest is the trial, the rest wait on it
        job = self.repo.claim(self.owner, now, self.config.lease_seconds,
                              (JobState.PENDING, JobState.SENDING))
        if job is None:
            return
        with self._lock:
            self._trial = job.id
        self._submit_step(job)

    def _sleep_time(self, mono: float, states: frozenset[JobState]) -> float:
        waits = [self.config.idle_seconds]
        due = self.repo.due_in(states, follow_ups=True) if self._free_slots() else None
        if due is not None:
            waits.append(due)
        pause = self.repo.pause_state()
        if pause is not None and pause.recheck_in is not None:
            waits.append(pause.recheck_in)
        if self._next_held_check is not None:
            waits.append(self._next_held_check - mono)
        return max(0.0, min(waits))

    def _free_slots(self) -> bool:
        with self._lock:
            return len(self._in_flight) < self.config.max_concurrent

    def _renew(self) -> None:
        with self._lock:
            ids = list(self._in_flight)
        self.repo.renew(self.owner, ids, self.config.lease_seconds)

    # -- steps ------------------------------------------------------------------------------

    def _submit_step(self, job: Job) -> None:
        assert self._pool is not None
        with self._lock:
            future = self._pool.submit(self._runner.step, job, self.owner)
            self._in_flight[job.id] = future
        future.add_done_callback(lambda f, job=job: self._step_done(job, f))

    def _step_done(self, job: Job, future: Future[StepResult]) -> None:
        with self._lock:
            self._in_flight.pop(job.id, None)
            was_trial = self._trial == job.id
            if was_trial:
                self._trial = None
        try:
            result = future.result()
        except LeaseLost as error:
            log.info("%s", error)
            result = None
        except MonitorError as error:  # the store failed mid-step; the lease expires by itself
            log.error("job %s: %s", job.id, error)
            self._emit(EngineEvent("problem", str(error), job))
            result = None
        except Exception:
            log.exception("job %s: unexpected failure in a step", job.id)
            result = None
        if result is not None:
            self._react(result, was_trial)
        self._wake.set()

    def _react(self, result: StepResult, was_trial: bool) -> None:
        now, mono = self._clock(), self._mono()
        job, d = result.job, result.disposition
        self._emit(EngineEvent("job", job.last_error or "", job, d.kind if d else None))
        if result.held is not None:
            self._emit(EngineEvent("slow_link", result.held.summary, job))
            with self._lock:
                self._next_held_check = mono + self.config.held_recheck_seconds
        if result.slow_warning is not None:
            self._emit(EngineEvent("slow_link", result.slow_warning.summary, job))
        if was_trial and (d is None or d.action not in (Action.PAUSE, Action.LINK_DOWN)):
            self.resume()  # the trial went through: credits or token are back
        if d is None:
            return
        if d.action is Action.LINK_DOWN:
            self._go_offline(d.message, now)
        elif d.action is Action.THROTTLE and d.retry_after:
            until = mono + d.retry_after
            with self._lock:
                self._throttled_until = max(until, self._throttled_until or until)
            self._emit(EngineEvent("throttled", d.message))
        elif d.action is Action.PAUSE:
            self._pause(d.kind, d.message, now, rearm=was_trial)

    def _pause(self, kind: str, message: str, now: datetime, *, rearm: bool = True) -> None:
        if not rearm and self.repo.pause_state() is not None:
            return  # jobs followed while paused must not push the next trial further away
        if self.repo.pause(kind, message, now, self.config.pause_recheck_seconds):
            log.warning("job queue paused (%s): %s", kind, message)
            self._emit(EngineEvent("paused", message))

    # -- connectivity -----------------------------------------------------------------------

    def _go_offline(self, reason: str, now: datetime) -> None:
        with self._lock:
            was_online = self._online
            self._online = False
            self._offline_reason = reason
            if was_online:
                self._offline_since, self._offline_mono = now, self._mono()
                self._probe_failures = 0
                self._next_probe = self._mono() + self.config.probe_backoff.delay(1, self._rng)
        if was_online:
            log.warning("cloud unreachable, jobs wait: %s", reason)
            self._emit(EngineEvent("offline", reason))

    def _submit_probe(self) -> None:
        with self._lock:
            if self._checking_link or self._pool is None or self._stopping.is_set():
                return
            self._checking_link = True
            self._next_probe = None
            self._pool.submit(self._run_probe)

    def _run_probe(self) -> None:
        now = self._clock()
        retry_after: float | None = None
        try:
            self._probe()
            ok, reason = True, ""
        except (AuthFailed, NotConfigured) as error:
            # The link works; the token does not. That is a pause, not an outage.
            ok, reason = True, ""
            self._pause("auth", str(error), now)
        except MonitorError as error:
            ok, reason = False, str(error)
            if isinstance(error, CloudUnavailable):
                retry_after = error.retry_after
        except Exception as error:  # a bug must not leave the engine waiting for this probe
            log.exception("connectivity probe failed unexpectedly")
            ok, reason = False, f"The connectivity check failed ({type(error).__name__})."
        with self._lock:
            self._checking_link = False
            if ok:
                was_offline = not self._online
                self._online, self._offline_reason, self._offline_since = True, "", None
                self._offline_mono = None
                self._probe_failures = 0
            else:
                was_offline = False
                self._probe_failures += 1
                delay = self.config.probe_backoff.delay(self._probe_failures, self._rng)
                if retry_after is not None:
                    delay = max(delay, min(retry_after, self.config.max_probe_wait))
                self._next_probe = self._mono() + delay
                self._offline_reason = reason
        if ok and was_offline:
            log.info("cloud reachable again: replaying the queue")
            self._emit(EngineEvent("online", "The cloud is reachable again."))
        self._wake.set()

    def _maybe_check_held(self, mono: float) -> None:
        """Held jobs go back to the queue once the preflight says the link is good again."""
        with self._lock:
            due = self._next_held_check is not None and mono >= self._next_held_check
            if not due or self._checking_link or self._link is None or self._pool is None:
                return
            self._next_held_check = None
            self._checking_link = True
            self._pool.submit(self._check_held)

    def _check_held(self) -> None:
        assert self._link is not None
        now = self._clock()
        try:
            report = self._link.check()
            if report.verdict is LinkVerdict.OK:
                n = self.repo.release_held(now, f"the link recovered ({report.summary})")
                if n:
                    log.info("released %d held jobs: %s", n, report.summary)
                    self._emit(EngineEvent("job", f"{n} held photos released"))
            elif self.repo.counts().count(JobState.HELD):
                with self._lock:
                    self._next_held_check = self._mono() + self.config.held_recheck_seconds
        except Exception as error:  # MonitorError, or a bug: look again later either way
            log.info("link check for held jobs failed: %s", error)
            with self._lock:
                self._next_held_check = self._mono() + self.config.held_recheck_seconds
        finally:
            with self._lock:
                self._checking_link = False
            self._wake.set()

    def _emit(self, event: EngineEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("job event handler failed")
