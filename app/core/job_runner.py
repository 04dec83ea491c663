"""Drives one claimed job one step further: preflight, submit, follow status, fetch the result.

Each stage ends with exactly one durable state change, made only after the network call it
records has finished, so a crash anywhere leaves the job in a state a restart can safely redo:
re-sending "sending" reuses the key (no second charge), re-polling and re-downloading are free.
The runner holds no state of its own; the engine calls step() from several threads.
"""

from __future__ import annotations

import enum
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from app.core.backoff import Backoff
from app.core.bandwidth import Preflight, Verdict
from app.core.errors import CloudUnreachable, MonitorError
from app.core.jobs import (
    Action,
    Disposition,
    Job,
    JobState,
    SourceChanged,
    classify,
)

# Poll quickly first (most jobs take seconds), then settle; never slower than this.
POLL_DELAYS = (0.5, 1.0, 2.0, 3.0, 5.0)
JOB_BACKOFF = Backoff(base=5.0, cap=300.0)
# The cloud keeps idempotency keys at least 7 days (docs/cloud-api.md §5). A job that may have
# reached the cloud longer ago than this is not re-sent on its own: its key might be forgotten,
# and a re-send could then charge twice. The operator decides (retry resets the clock).
KEY_SAFE_AGE = timedelta(days=6)


# -- ports ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CloudJob:
    id: str
    status: str  # queued | running | succeeded | failed
    failure_reason: str | None = None
    charged_cents: int | None = None


class JobCloud(Protocol):
    def submit(self, feature: str, data: bytes, media_type: str, key: str) -> CloudJob: ...

    def status(self, cloud_job_id: str) -> CloudJob: ...

    def download_result(self, cloud_job_id: str, target_path: str) -> int:
        """Write the result at target_path whole or not at all; return its size."""
        ...


class JobStore(Protocol):
    def transition(self, job: Job, owner: str, to: JobState, *, at: datetime, note: str,
                   release: bool, record: bool = True, **changes: Any) -> Job:
        """Compare-and-set: only if the job is still in job.state and leased to owner."""
        ...


class SourceFiles(Protocol):
    def read(self, path: str) -> bytes:
        """The photo's bytes; SourceMissing if it is gone or unreadable."""
        ...


class LinkVerdict(str, enum.Enum):
    OK = "ok"
    SLOW = "slow"
    OFFLINE = "offline"


@dataclass(frozen=True)
class LinkReport:
    verdict: LinkVerdict
    summary: str


class LinkCheck(Protocol):
    def check(self) -> LinkReport: ...


# Preflight failures that are about the account, not the connection (error class names).
NOT_THE_LINK = frozenset({"NotConfigured", "AuthFailed"})


class PreflightLink:
    """The bandwidth preflight as the job path sees it: a fresh enough result is reused, so a
    burst of photos costs one probe, not one per photo."""

    def __init__(self, preflight: Preflight | Callable[[], Preflight], max_age_seconds: float):
        # A factory is asked at each check, so a "needed speed" changed in Settings applies
        # to the next photo rather than after a restart.
        self._current: Callable[[], Preflight] = (
            (lambda: preflight) if hasattr(preflight, "check") else preflight)  # type: ignore
        self._max_age = max_age_seconds

    def check(self) -> LinkReport:
        result = self._current().check(self._max_age)
        if result.verdict is Verdict.OFFLINE and result.details.get("error") in NOT_THE_LINK:
            # No token, or a refused one: the check says nothing about the link. Going on lets
            # the send meet the same error, which pauses the queue for the operator, instead of
            # waiting for a link that is fine.
            return LinkReport(LinkVerdict.OK, result.reason)
        verdict = {Verdict.SLOW: LinkVerdict.SLOW, Verdict.OFFLINE: LinkVerdict.OFFLINE}.get(
            result.verdict, LinkVerdict.OK)  # marginal is sent: within the error of the probe
        if verdict is LinkVerdict.OFFLINE and result.reason:
            return LinkReport(verdict, result.reason)  # why, not a row of dashes
        return LinkReport(verdict, result.summary())


class LinkOffline(CloudUnreachable):
    """The preflight found no link before anything was sent: no retry is used up."""


# -- the runner -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunPolicy:
    retry_budget: int = 8
    backoff: Backoff = JOB_BACKOFF
    hold_on_slow_link: bool = True
    # A cloud job still running after this long is given up (the operator can retry: the
    # result is fetched then, nothing is sent again).
    max_wait_seconds: float = 1800.0
    # A job that met a pause (402, 401) waits this long; resuming the queue makes it due at
    # once, so this only keeps a paused queue from asking the cloud the same thing in a loop.
    pause_delay: float = 120.0


@dataclass(frozen=True)
class StepResult:
    job: Job
    disposition: Disposition | None = None  # set when the step ended in a failure
    held: LinkReport | None = None  # the job was held for a slow link
    slow_warning: LinkReport | None = None  # slow link, sent anyway (the "warn only" setting)


class JobRunner:
    def __init__(self, cloud: JobCloud, store: JobStore, files: SourceFiles,
                 link: LinkCheck | None, clock: Callable[[], datetime],
                 policy: RunPolicy | None = None, rng: random.Random | None = None):
        self._cloud = cloud
        self._store = store
        self._files = files
        self._link = link
        self._clock = clock
        self.policy = policy or RunPolicy()
        self._rng = rng or random.Random()

    def step(self, job: Job, owner: str) -> StepResult:
        """Take the job as far as it can go now; the lease is released when this returns."""
        data: bytes | None = None
        slow: LinkReport | None = None
        while True:
            try:
                if job.state is JobState.PENDING:
                    outcome = self._prepare(job, owner)
                    if isinstance(outcome, StepResult):
                        return outcome
                    job, data, slow = outcome
                elif job.state is JobState.SENDING:
                    job = self._submit(job, owner, data)
                elif job.state is JobState.WAITING_RESULT:
                    job = self._poll(job, owner)
                elif job.state is JobState.DOWNLOADING:
                    job = self._download(job, owner)
                else:
                    return StepResult(job, slow_warning=slow)
            except MonitorError as error:
                return replace(self._after_failure(job, owner, error), slow_warning=slow)
            if job.owner is None:  # the stage released the lease: nothing more to do now
                return StepResult(job, slow_warning=slow)

    # -- stages (each ends with one transition) ---------------------------------------------

    def _prepare(self, job: Job, owner: str) -> StepResult | tuple[Job, bytes, LinkReport | None]:
        data = self._read(job)
        slow = None
        if self._link is not None and not job.send_anyway:
            report = self._link.check()
            if report.verdict is LinkVerdict.OFFLINE:
                raise LinkOffline(report.summary)
            if report.verdict is LinkVerdict.SLOW:
                if self.policy.hold_on_slow_link:
                    held = self._move(job, owner, JobState.HELD, release=True,
                                      note=f"held: the link is too slow ({report.summary})")
                    return StepResult(held, held=report)
                slow = report
        note = f"upload started (attempt {job.attempts + 1})"
        if slow is not None:
            note += f"; the link is slow ({slow.summary}), sent anyway by setting"
        return self._move(job, owner, JobState.SENDING, note=note, sends=job.sends + 1), data, slow

    def _submit(self, job: Job, owner: str, data: bytes | None) -> Job:
        maybe_sent = job.attempts > 0 or data is None
        if maybe_sent and self._clock() - (job.key_since or job.created_at) > KEY_SAFE_AGE:
            return self._move(job, owner, JobState.GIVEN_UP, release=True,
                              finished_at=self._clock(), last_error_kind="key_age",
                              last_error="This photo may have reached the cloud days ago and its "
                              "idempotency key may have expired. Check the cloud dashboard for it "
                              "before retrying: a retry could be charged again.",
                              note="given up: too old to re-send safely under its key")
        if data is None:  # a job reclaimed in "sending": send again under the same key
            data = self._read(job)
        cloud_job = self._cloud.submit(job.feature, data, job.media_type, job.idempotency_key)
        return self._apply(job, owner, cloud_job, f"accepted by the cloud as {cloud_job.id}")

    def _poll(self, job: Job, owner: str) -> Job:
        assert job.cloud_job_id is not None
        cloud_job = self._cloud.status(job.cloud_job_id)
        waited = (self._clock() - job.created_at).total_seconds()
        if cloud_job.status in ("queued", "running") and waited > self.policy.max_wait_seconds:
            return self._move(job, owner, JobState.GIVEN_UP, release=True,
                              last_error="The cloud has not finished this job; retry to look "
                              "again (nothing is sent or charged again).",
                              last_error_kind="cloud_slow", finished_at=self._clock(),
                              note=f"given up: still {cloud_job.status} after {waited:.0f} s")
        return self._apply(job, owner, cloud_job, f"the cloud finished job {cloud_job.id}")

    def _download(self, job: Job, owner: str) -> Job:
        assert job.cloud_job_id is not None
        size = self._cloud.download_result(job.cloud_job_id, job.result_path)
        return self._move(job, owner, JobState.SUCCEEDED, release=True, finished_at=self._clock(),
                          last_error=None, last_error_kind=None,
                          note=f"result saved as {job.result_path} ({size} bytes)")

    def _apply(self, job: Job, owner: str, cloud_job: CloudJob, done_note: str) -> Job:
        """Record what the cloud says about its job."""
        common: dict[str, Any] = {"cloud_job_id": cloud_job.id}
        if cloud_job.charged_cents is not None:
            common["charged_cents"] = cloud_job.charged_cents
        if cloud_job.status == "succeeded":
            return self._move(job, owner, JobState.DOWNLOADING, result_ready=True,
                              note=done_note, **common)
        if cloud_job.status == "failed":
            charged = cloud_job.charged_cents or 0
            reason = cloud_job.failure_reason or "no reason given"
            message = f"The cloud could not make this result ({reason})."
            if charged:
                message += f" {charged} cents were charged: a refund request can cite this job."
            return self._move(job, owner, JobState.FAILED, release=True, last_error=message,
                              last_error_kind="cloud_failed", finished_at=self._clock(),
                              note=f"failed in the cloud: {reason}", **common)
        first = job.state is not JobState.WAITING_RESULT
        delay = POLL_DELAYS[min(job.polls, len(POLL_DELAYS) - 1)]
        return self._move(
            job, owner, JobState.WAITING_RESULT, release=True, record=first,
            polls=job.polls + 1, next_attempt_at=self._clock() + timedelta(seconds=delay),
            note=f"accepted by the cloud as {cloud_job.id} ({cloud_job.status})", **common)

    # -- failures -------------------------------------------------------------------------------

    def _after_failure(self, job: Job, owner: str, error: MonitorError) -> StepResult:
        d = classify(error)
        if isinstance(error, LinkOffline):
            d = replace(d, counts=False)
        now = self._clock()
        if d.action is Action.FAIL:
            failed = self._move(job, owner, JobState.FAILED, release=True, last_error=d.message,
                                last_error_kind=d.kind, finished_at=now,
                                note=f"failed: {d.message}")
            return StepResult(failed, d)
        # A job that may have reached the cloud goes back to "pending" and is sent again under
        # the same key; the cloud answers with the job it already has.
        rest = JobState.PENDING if job.state is JobState.SENDING else job.state
        attempts = job.attempts + (1 if d.counts else 0)
        if d.counts and attempts >= self.policy.retry_budget:
            # The error's own hint ("it will be retried") is no longer true: say what to do.
            text = (f"Gave up after {attempts} tries: {error.message} Retry it from the queue "
                    "(it keeps its key: no second charge).")
            gave_up = self._move(job, owner, JobState.GIVEN_UP, release=True, attempts=attempts,
                                 last_error=text, last_error_kind=d.kind, finished_at=now,
                                 note=f"given up after {attempts} attempts: {d.message}")
            return StepResult(gave_up, d)
        delay = 0.0
        if d.action is Action.RETRY:
            delay = self.policy.backoff.delay(max(1, attempts), self._rng, d.retry_after)
        elif d.action is Action.THROTTLE:
            delay = d.retry_after or 0.0
        elif d.action is Action.PAUSE:
            delay = self.policy.pause_delay
        moved = self._move(job, owner, rest, release=True, attempts=attempts,
                           next_attempt_at=now + timedelta(seconds=delay),
                           last_error=d.message, last_error_kind=d.kind,
                           note=f"{d.action.value}: {d.message}")
        return StepResult(moved, d)

    # -- helpers --------------------------------------------------------------------------------

    def _read(self, job: Job) -> bytes:
        data = self._files.read(job.source_path)
        if hashlib.sha256(data).hexdigest() != job.content_hash:
            raise SourceChanged(
                f"The photo {job.source_path} changed after it was queued; it was not sent.",
                hint="Drop the new version into the hot folder to send it as a new job.")
        return data

    def _move(self, job: Job, owner: str, to: JobState, *, note: str, release: bool = False,
              record: bool = True, **changes: Any) -> Job:
        return self._store.transition(job, owner, to, at=self._clock(), note=note,
                                      release=release, record=record, **changes)
