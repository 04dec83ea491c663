"""What a queued job waits for and what its row says, in operator words.

Pure functions of a job and the link state, so the queue window's "Next try" and `queue`'s NEXT
column can never disagree: both call these.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from app.core.jobs import OPEN, Job, JobState, QueuePause
from app.core.status import clock_text


def next_step(job: Job, now: datetime, *, offline: bool = False,
              pause: QueuePause | None = None) -> str:
    """When the job moves next, or what it waits for: never blank while it is open, "" once it
    is finished. `offline`: the shared link state says the cloud cannot be reached."""
    state = job.state
    if state not in OPEN:
        return ""
    if state is JobState.HELD:
        return "when the link is fast enough"
    if offline:
        return "when the cloud answers"
    if pause is not None and state in (JobState.PENDING, JobState.SENDING):
        return ("when credits are bought" if pause.kind == "credits"
                else "when the token works")
    due = job.next_attempt_at
    if due is None or due <= now:
        return {JobState.PENDING: "now", JobState.SENDING: "sending now",
                JobState.WAITING_RESULT: "asking the cloud now",
                JobState.DOWNLOADING: "downloading now"}[state]
    seconds = (due - now).total_seconds()
    doing = "asks the cloud" if state is JobState.WAITING_RESULT else "tries"
    if seconds < 3600:
        return f"{doing} at {clock_text(due, now)} (in {seconds:.0f} s)"
    return f"{doing} at {clock_text(due, now)}"


def job_note(job: Job, names: Mapping[str, str]) -> str:
    """The row's note: a duplicate names the photo it repeats (`names`: job id -> file name),
    else the last problem, else why a run exists."""
    if job.state is JobState.DUPLICATE and job.duplicate_of:
        original = names.get(job.duplicate_of, job.duplicate_of)
        return f"same photo as {original}: not sent again"
    if job.last_error:
        return job.last_error
    if job.retry_of:
        return "a new run: the earlier one failed in the cloud"
    return ""
