"""An AI job's life: states, allowed transitions, and what each failure means for the queue.

A job is written durably (with its idempotency key, made once here) before anything is sent. The
key never changes afterwards, so however often a job is re-sent after a crash or an outage, the
cloud creates, and charges, at most one job for it. Every state change is recorded with its time:
those timestamps are what a refund request cites.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from app.core.errors import (
    AuthFailed,
    CaptivePortal,
    CloudUnavailable,
    CloudUnreachable,
    InsufficientCredits,
    MonitorError,
    NotConfigured,
    ProtocolError,
    RequestRejected,
    StorageError,
)
from app.core.status import iso


class JobState(str, enum.Enum):
    PENDING = "pending"  # written, waiting for its turn (or for its next attempt)
    HELD = "held"  # the link was too slow; waits for it to recover or for "send anyway"
    SENDING = "sending"  # the upload started; the cloud may or may not have it yet
    WAITING_RESULT = "waiting_result"  # the cloud accepted it; we follow its status
    DOWNLOADING = "downloading"  # the cloud has a result; we are fetching it
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # permanent, with a reason
    GIVEN_UP = "given_up"  # the retry budget ran out; the operator may retry
    REMOVED = "removed"  # the operator took it off the queue (its history is kept)
    DUPLICATE = "duplicate"  # the same photo as an earlier job: recorded, never sent


# The engine works on these; "held" waits for the link or the operator.
WORKABLE = frozenset({JobState.PENDING, JobState.SENDING, JobState.WAITING_RESULT,
                      JobState.DOWNLOADING})
# Not finished yet: counted in the tray badge and in the warning before quitting.
OPEN = WORKABLE | {JobState.HELD}
FINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.GIVEN_UP, JobState.REMOVED,
                   JobState.DUPLICATE})

_S = JobState
# Same-state entries are retries and polls: they are recorded too (an attempt is a fact).
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    _S.PENDING: frozenset({_S.PENDING, _S.HELD, _S.SENDING, _S.FAILED, _S.GIVEN_UP, _S.REMOVED}),
    _S.HELD: frozenset({_S.PENDING, _S.REMOVED}),
    _S.SENDING: frozenset({_S.PENDING, _S.SENDING, _S.WAITING_RESULT, _S.DOWNLOADING,
                           _S.FAILED, _S.GIVEN_UP}),
    _S.WAITING_RESULT: frozenset({_S.WAITING_RESULT, _S.DOWNLOADING, _S.FAILED, _S.GIVEN_UP,
                                  _S.REMOVED}),
    _S.DOWNLOADING: frozenset({_S.DOWNLOADING, _S.SUCCEEDED, _S.FAILED, _S.GIVEN_UP,
                               _S.REMOVED}),
    # Operator retries: back to where the job left off (the same key, so no second charge).
    # A given-up job the cloud has is still followed: it may deliver or fail after all.
    _S.GIVEN_UP: frozenset({_S.PENDING, _S.WAITING_RESULT, _S.DOWNLOADING, _S.GIVEN_UP,
                            _S.FAILED, _S.REMOVED}),
    _S.FAILED: frozenset({_S.PENDING, _S.REMOVED}),
    _S.SUCCEEDED: frozenset({_S.REMOVED}),
    _S.REMOVED: frozenset(),
    _S.DUPLICATE: frozenset({_S.REMOVED}),
}


class IllegalTransition(MonitorError):
    """A bug or a race lost to another process: the job is not where the caller thought."""


def check_transition(current: JobState, target: JobState) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"A job cannot go from {current.value} to {target.value}.")


def resume_state(job: Job) -> JobState:
    """Where an operator retry of a given-up job picks up: what the cloud already has is kept."""
    if job.cloud_job_id is None:
        return JobState.PENDING
    return JobState.DOWNLOADING if job.result_ready else JobState.WAITING_RESULT


# -- local failures the job path can meet ----------------------------------------------------


class SourceMissing(MonitorError):
    """The photo was deleted or moved after it was queued."""


class SourceChanged(MonitorError):
    """The photo's bytes differ from what was queued (its key belongs to the old bytes)."""


class OutputFolderError(StorageError):
    """The result could not be written (disk full, no permission). The job keeps its result in
    the cloud and tries again later; nothing is charged again."""

    retryable = True


# -- what a failure means -------------------------------------------------------------------------


class Action(str, enum.Enum):
    RETRY = "retry"  # this job tries again after a backoff
    LINK_DOWN = "link_down"  # the cloud cannot be reached: stop sending, probe until it is back
    THROTTLE = "throttle"  # the cloud asked everyone to wait (429, 503 with Retry-After)
    PAUSE = "pause"  # only the operator can fix it (credits, token): pause the whole queue
    FAIL = "fail"  # permanent for this job


@dataclass(frozen=True)
class Disposition:
    action: Action
    kind: str  # a stable word stored with the error and shown in --json
    message: str
    retry_after: float | None = None
    counts: bool = True  # does this use up one of the job's retries?


def classify(error: MonitorError) -> Disposition:
    """Retryable vs permanent vs pause-the-queue, decided from the error type alone."""
    text = str(error)
    if isinstance(error, InsufficientCredits):
        return Disposition(Action.PAUSE, "credits", text, counts=False)
    if isinstance(error, (AuthFailed, NotConfigured)):
        return Disposition(Action.PAUSE, "auth", text, counts=False)
    if isinstance(error, CaptivePortal):
        return Disposition(Action.LINK_DOWN, "captive_portal", text)
    if isinstance(error, CloudUnreachable):
        return Disposition(Action.LINK_DOWN, "offline", text)
    if isinstance(error, CloudUnavailable):
        if error.retry_after is not None:
            # 429, or a 503 that says when to come back: the whole queue waits, no job is to
            # blame, so no retry is used up.
            return Disposition(Action.THROTTLE, "unavailable", text, error.retry_after,
                               counts=False)
        return Disposition(Action.RETRY, "unavailable", text)
    if isinstance(error, OutputFolderError):
        # The operator has to free space; burning the budget meanwhile would give up on a
        # result the cloud already charged for.
        return Disposition(Action.RETRY, "output_folder", text, counts=False)
    if isinstance(error, (SourceMissing, SourceChanged)):
        return Disposition(Action.FAIL, "source", text)
    if isinstance(error, RequestRejected):
        if error.status == 409 and error.code in ("idempotency_conflict", "result_not_ready"):
            # Our bytes never change under one key (SourceChanged guards that), so a conflict
            # means the first try with this key is still being processed: try again shortly.
            return Disposition(Action.RETRY, "in_progress", text, retry_after=1.0)
        return Disposition(Action.FAIL, "rejected", text)
    if isinstance(error, ProtocolError):
        return Disposition(Action.RETRY, "protocol", text)
    if isinstance(error, StorageError):
        return Disposition(Action.RETRY, "storage", text, counts=False)
    return Disposition(Action.RETRY, "error", text)


# -- the job record -------------------------------------------------------------------------------


def new_job_id() -> str:
    return f"j-{uuid.uuid4().hex[:16]}"


def new_idempotency_key() -> str:
    # Random, not derived from the photo: the same photo sent twice on purpose (a retry of a
    # job that failed in the cloud) must be a new job, and a key must not reveal content.
    return f"bcm-{uuid.uuid4()}"


@dataclass(frozen=True)
class NewJob:
    """What intake knows about a photo before it is written to the queue."""

    source_path: str
    feature: str
    content_hash: str
    size_bytes: int
    media_type: str
    origin: str  # hot_folder | cli | trigger | retry
    result_path: str
    source_mtime_ns: int = 0
    # The photo's bytes as hashed, copied into the store's spool folder before the job is
    # committed: every re-send under the key reads these, whatever became of the original.
    spool_path: str | None = None


@dataclass(frozen=True)
class Job:
    id: str
    seq: int
    idempotency_key: str
    source_path: str
    feature: str
    content_hash: str
    size_bytes: int
    media_type: str
    origin: str
    result_path: str
    state: JobState
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    polls: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    cloud_job_id: str | None = None
    result_ready: bool = False
    send_anyway: bool = False
    charged_cents: int | None = None
    finished_at: datetime | None = None
    owner: str | None = None
    lease_until: datetime | None = None
    retry_of: str | None = None
    key_since: datetime | None = None  # set when an operator retry restarted the key-age clock
    spool_path: str | None = None  # the bytes to send (NewJob.spool_path)
    # Seconds (on the store's monotonic timeline) since the cloud accepted the job, or since an
    # operator retry restarted the wait: the result-wait budget. None before acceptance.
    waited_seconds: float | None = None
    follow_up: bool = False  # given up, but the cloud has it: still asked now and then
    # The cloud's own clock (its job document): when it accepted the job, and when it reported
    # it failed (or, for a job the booth gave up on, that moment on the cloud's clock). These,
    # not the booth's clock, are what a refund request cites.
    cloud_created_at: datetime | None = None
    cloud_ended_at: datetime | None = None
    first_sent_at: datetime | None = None  # the first upload attempt (booth clock)
    superseded_by: str | None = None  # the new run an operator retry made of this photo
    duplicate_of: str | None = None  # DUPLICATE rows: the job that has this very photo
    sends: int = 0  # how many times the upload started (what "tries" means to a person)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN

    def to_json(self, events: list[JobEvent] | None = None) -> dict[str, object]:
        doc: dict[str, object] = {
            "id": self.id, "file": self.source_path, "feature": self.feature,
            "state": self.state.value, "attempts": self.attempts,
            "next_attempt_at": _iso(self.next_attempt_at), "last_error": self.last_error,
            "last_error_kind": self.last_error_kind, "cloud_job_id": self.cloud_job_id,
            "charged_cents": self.charged_cents, "result": self.result_path,
            "origin": self.origin, "idempotency_key": self.idempotency_key,
            "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at),
            "finished_at": _iso(self.finished_at), "retry_of": self.retry_of,
            "cloud_created_at": _iso(self.cloud_created_at),
            "cloud_ended_at": _iso(self.cloud_ended_at),
            "superseded_by": self.superseded_by, "duplicate_of": self.duplicate_of,
            "sends": self.sends,
        }
        if events is not None:
            doc["events"] = [e.to_json() for e in events]
        return doc


@dataclass(frozen=True)
class JobEvent:
    """One row of a job's history: the timestamps a refund request cites."""

    job_id: str
    at: datetime
    from_state: JobState | None
    to_state: JobState
    note: str = ""
    owner: str | None = None  # which process made the change ("operator" for the operator)

    def to_json(self) -> dict[str, object]:
        return {"at": _iso(self.at), "from": self.from_state.value if self.from_state else None,
                "to": self.to_state.value, "note": self.note, "by": self.owner}


def _iso(moment: datetime | None) -> str | None:
    return iso(moment)  # one format in every JSON output: RFC 3339 UTC with "Z"


@dataclass(frozen=True)
class QueuePause:
    kind: str  # credits | auth
    message: str
    since: datetime
    recheck_at: datetime | None = None  # for display
    recheck_in: float | None = None  # seconds until the next trial (store timeline)


@dataclass(frozen=True)
class QueueCounts:
    by_state: dict[str, int] = field(default_factory=dict)
    oldest_open_at: datetime | None = None
    pause: QueuePause | None = None

    def count(self, *states: JobState) -> int:
        return sum(self.by_state.get(s.value, 0) for s in states)

    @property
    def open(self) -> int:
        return self.count(*OPEN)

    def to_json(self) -> dict[str, object]:
        return {
            "open": self.open,
            **{s.value: self.by_state.get(s.value, 0) for s in JobState},
            "oldest_open_at": iso(self.oldest_open_at),
            "paused": None if self.pause is None else {
                "kind": self.pause.kind, "message": self.pause.message,
                "since": iso(self.pause.since),
            },
        }
