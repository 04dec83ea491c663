"""Drives one claimed job one step further: preflight, submit, follow status, fetch the result.

Each stage ends with exactly one durable state change, made only after the network call it
records has finished, so a crash anywhere leaves the job in a state a restart can safely redo:
re-sending "sending" reuses the key (no second charge), re-polling and re-downloading are free.
The runner holds no state of its own; the engine calls step() from several threads.

Times: the store keeps every wait on its monotonic timeline, so the runner deals in durations
(`due_in`, `Job.waited_seconds`) and never compares wall-clock moments to decide anything, with
one deliberate exception, the key age (KEY_SAFE_AGE). Moments a refund request cites come from
the cloud's clock: its job document, or `cloud_clock` (the booth's clock corrected by the offset
measured from the cloud's answers).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import Any, Protocol

from app.core.backoff import Backoff
from app.core.errors import MonitorError, RequestRejected
from app.core.job_link import LinkCheck, LinkOffline, LinkReport, LinkVerdict
from app.core.jobs import (
    Action,
    Disposition,
    Job,
    JobState,
    SourceChanged,
    SourceMissing,
    classify,
)

# Poll quickly first (most jobs take seconds), then settle; never slower than this.
POLL_DELAYS = (0.5, 1.0, 2.0, 3.0, 5.0)
# A given-up job the cloud has is asked about this often: if it delivers after all, the result is
# downloaded (and no refund is claimed); if it fails, the failure is recorded for the claim.
FOLLOW_UP_DELAY = 300.0
# ... but not forever: a job the cloud still calls unfinished this long after accepting it is no
# longer followed, and a charge for it is claimed as "no result".
FOLLOW_UP_LIMIT = 12 * 3600.0
JOB_BACKOFF = Backoff(base=5.0, cap=300.0)
# The cloud keeps idempotency keys at least 7 days (docs/cloud-api.md §5). A job that may have
# reached the cloud longer ago than this is not re-sent on its own: its key might be forgotten,
# and a re-send could then charge twice. The operator decides (retry resets the clock).
# Measured on the wall clock on purpose: unlike the store's timeline it counts the days the booth
# was switched off, which the cloud's retention does too. The day of margin absorbs clock errors.
KEY_SAFE_AGE = timedelta(days=6)


# -- ports ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CloudJob:
    id: str
    status: str  # queued | running | succeeded | failed; anything newer: still in progress
    failure_reason: str | None = None
    charged_cents: int | None = None
    created_at: datetime | None = None  # the cloud's clock
    updated_at: datetime | None = None


class JobCloud(Protocol):
    def submit(self, feature: str, data: bytes, media_type: str, key: str) -> CloudJob: ...

    def status(self, cloud_job_id: str) -> CloudJob: ...

    def download_result(self, cloud_job_id: str, target_path: str) -> int:
        """Write the result at target_path whole or not at all; return its size."""
        ...


class JobStore(Protocol):
    def transition(self, job: Job, owner: str, to: JobState, *, at: datetime, note: str,
                   release: bool, record: bool = True, due_in: float | None = None,
                   **changes: Any) -> Job:
        """Compare-and-set: only if the job is still in job.state and leased to owner.
        `due_in`: seconds until it is due again, on the store's monotonic timeline."""
        ...


class SourceFiles(Protocol):
    def read(self, path: str) -> bytes:
        """The photo's bytes (at most the cloud's limit); SourceMissing if it is gone."""
        ...


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
                 policy: RunPolicy | None = None, rng: random.Random | None = None, *,
                 cloud_clock: Callable[[], datetime] | None = None):
        """`clock`: the booth's wall clock, for the history. `cloud_clock`: the cloud's time as
        far as the booth can tell, for the moments a refund request cites."""
        self._cloud = cloud
        self._store = store
        self._files = files
        self._link = link
        self._clock = clock
        self._cloud_clock = cloud_clock or clock
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
                elif job.state is JobState.GIVEN_UP and job.follow_up:
                    job = self._follow_up(job, owner)
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
        # Sent before this step: reclaimed in "sending" (no bytes read yet), or an earlier
        # attempt ended without a clear answer. (job.state is "sending" here in any case.)
        maybe_sent = data is None or job.attempts > 0
        if maybe_sent and self._clock() - (job.key_since or job.created_at) > KEY_SAFE_AGE:
            return self._give_up(job, owner, kind="key_age",
                                 text="This photo may have reached the cloud days ago and its "
                                 "idempotency key may have expired. Check the cloud dashboard for "
                                 "it before retrying: a retry could be charged again.",
                                 note="given up: too old to re-send safely under its key")
        if data is None:  # a job reclaimed in "sending": send again under the same key
            data = self._read(job)
        cloud_job = self._cloud.submit(job.feature, data, job.media_type, job.idempotency_key)
        return self._apply(job, owner, cloud_job, f"accepted by the cloud as {cloud_job.id}")

    def _poll(self, job: Job, owner: str) -> Job:
        assert job.cloud_job_id is not None
        cloud_job = self._cloud.status(job.cloud_job_id)
        # Counted from the cloud's acceptance on the store's timeline: neither the time a photo
        # waited in the queue during an outage nor a step of the wall clock uses it up.
        waited = job.waited_seconds or 0.0
        if not _finished(cloud_job) and waited > self.policy.max_wait_seconds:
            return self._give_up(
                job, owner, kind="cloud_slow", cloud_job=cloud_job,
                text="The cloud has not finished this job; it is still asked about it, and the "
                "result is saved if it comes (nothing is sent or charged again).",
                note=f"given up: still {cloud_job.status} {waited:.0f} s after the cloud "
                "accepted it; following it")
        return self._apply(job, owner, cloud_job, f"the cloud finished job {cloud_job.id}")

    def _follow_up(self, job: Job, owner: str) -> Job:
        """A given-up job the cloud has: delivered after all, failed after all, or not yet."""
        assert job.cloud_job_id is not None
        cloud_job = self._cloud.status(job.cloud_job_id)
        if _finished(cloud_job):
            return self._apply(job, owner, cloud_job,
                               f"the cloud finished job {cloud_job.id} after all")
        if (job.waited_seconds or 0.0) > FOLLOW_UP_LIMIT:
            return self._move(job, owner, JobState.GIVEN_UP, release=True, follow_up=False,
                              cloud_ended_at=self._cloud_clock(),
                              note=f"still {cloud_job.status} in the cloud after "
                              f"{FOLLOW_UP_LIMIT / 3600:.0f} h; not followed further")
        return self._move(job, owner, JobState.GIVEN_UP, release=True, record=False,
                          due_in=FOLLOW_UP_DELAY, note=f"still {cloud_job.status}")

    def _download(self, job: Job, owner: str) -> Job:
        assert job.cloud_job_id is not None
        size = self._cloud.download_result(job.cloud_job_id, job.result_path)
        return self._move(job, owner, JobState.SUCCEEDED, release=True, finished_at=self._clock(),
                          last_error=None, last_error_kind=None,
                          note=f"result saved as {job.result_path} ({size} bytes)")

    def _apply(self, job: Job, owner: str, cloud_job: CloudJob, done_note: str) -> Job:
        """Record what the cloud says about its job."""
        common: dict[str, Any] = {"cloud_job_id": cloud_job.id, "follow_up": False}
        if cloud_job.charged_cents is not None:
            common["charged_cents"] = cloud_job.charged_cents
        if cloud_job.created_at is not None and job.cloud_created_at is None:
            common["cloud_created_at"] = cloud_job.created_at
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
                              cloud_ended_at=cloud_job.updated_at or self._cloud_clock(),
                              note=f"failed in the cloud: {reason}", **common)
        first = job.state is not JobState.WAITING_RESULT
        delay = POLL_DELAYS[min(job.polls, len(POLL_DELAYS) - 1)]
        return self._move(
            job, owner, JobState.WAITING_RESULT, release=True, record=first,
            polls=job.polls + 1, due_in=delay,
            note=f"accepted by the cloud as {cloud_job.id} ({cloud_job.status})", **common)

    def _give_up(self, job: Job, owner: str, *, kind: str, text: str, note: str,
                 cloud_job: CloudJob | None = None, **changes: Any) -> Job:
        """Given up: the operator may retry. A job the cloud has is still followed."""
        follow = (cloud_job.id if cloud_job else job.cloud_job_id) is not None
        if cloud_job is not None:
            changes["cloud_job_id"] = cloud_job.id
            if cloud_job.charged_cents is not None:
                changes["charged_cents"] = cloud_job.charged_cents
        return self._move(job, owner, JobState.GIVEN_UP, release=True, last_error=text,
                          last_error_kind=kind, finished_at=self._clock(),
                          cloud_ended_at=self._cloud_clock(), follow_up=follow,
                          due_in=FOLLOW_UP_DELAY if follow else None, note=note, **changes)

    # -- failures -------------------------------------------------------------------------------

    def _after_failure(self, job: Job, owner: str, error: MonitorError) -> StepResult:
        d = classify(error)
        if isinstance(error, LinkOffline):
            d = replace(d, counts=False)
        now = self._clock()
        if job.state is JobState.GIVEN_UP:
            # A follow-up that did not get an answer: ask again later. A cloud that no longer
            # knows the job (404) ends the follow-up; the claim rests on the ledger then.
            gone = isinstance(error, RequestRejected) and error.status == 404
            later = self._move(job, owner, JobState.GIVEN_UP, release=True, record=gone,
                               follow_up=not gone, due_in=None if gone else FOLLOW_UP_DELAY,
                               note="the cloud no longer knows this job; not followed further")
            return StepResult(later, d)
        if isinstance(error, SourceMissing) and self._maybe_sent(job):
            # The bytes are gone, but the cloud may have run (and charged) the job: never call
            # that "nothing was sent". The ledger decides; a charge for it is claimed.
            gave_up = self._give_up(job, owner, kind="source", text=f"{error.message} It may "
                                    "have reached the cloud already: if so, its charge shows in "
                                    "the usage history and a refund request is filed for it.",
                                    note=f"given up: {d.message}")
            return StepResult(gave_up, d)
        if d.action is Action.FAIL:
            failed = self._move(job, owner, JobState.FAILED, release=True, last_error=d.message,
                                last_error_kind=d.kind, finished_at=now,
                                cloud_ended_at=self._cloud_clock(),
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
            gave_up = self._give_up(job, owner, kind=d.kind, text=text, attempts=attempts,
                                    note=f"given up after {attempts} attempts: {d.message}")
            return StepResult(gave_up, d)
        delay = 0.0
        if d.action is Action.RETRY:
            delay = self.policy.backoff.delay(max(1, attempts), self._rng, d.retry_after)
        elif d.action is Action.THROTTLE:
            delay = d.retry_after or 0.0
        elif d.action is Action.PAUSE:
            delay = self.policy.pause_delay
        moved = self._move(job, owner, rest, release=True, attempts=attempts, due_in=delay,
                           last_error=d.message, last_error_kind=d.kind,
                           note=f"{d.action.value}: {d.message}")
        return StepResult(moved, d)

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _maybe_sent(job: Job) -> bool:
        """Whether an upload of this job may have reached the cloud (for a failing step)."""
        return job.first_sent_at is not None or job.state is JobState.SENDING

    def _read(self, job: Job) -> bytes:
        """The bytes queued under the key: the spool copy, else (rows queued before the spool
        existed, or a lost spool file) the original if it is still exactly those bytes."""
        for path in (job.spool_path, job.source_path):
            if not path:
                continue
            try:
                data = self._files.read(path)
            except SourceMissing:
                continue
            if hashlib.sha256(data).hexdigest() == job.content_hash:
                return data
            if path == job.source_path:
                raise SourceChanged(
                    f"The photo {job.source_path} changed after it was queued; it was not sent.",
                    hint="Drop the new version into the hot folder to send it as a new job.")
        raise SourceMissing(
            f"The photo {PurePath(job.source_path).name} was deleted or moved before it could be "
            "sent.", hint="Nothing was sent or charged for it.")

    def _move(self, job: Job, owner: str, to: JobState, *, note: str, release: bool = False,
              record: bool = True, **changes: Any) -> Job:
        return self._store.transition(job, owner, to, at=self._clock(), note=note,
                                      release=release, record=record, **changes)


def _finished(cloud_job: CloudJob) -> bool:
    # Statuses may grow (docs/cloud-api.md §12): one this app does not know is not an outcome.
    return cloud_job.status in ("succeeded", "failed")
