"""The job state machine and the meaning of each failure, as tables."""

from datetime import datetime, timezone

import pytest

from app.core.errors import (
    AuthFailed,
    CaptivePortal,
    CloudUnavailable,
    CloudUnreachable,
    InsufficientCredits,
    NotConfigured,
    ProtocolError,
    RequestRejected,
    StorageError,
)
from app.core.jobs import (
    FINAL,
    OPEN,
    TRANSITIONS,
    Action,
    IllegalTransition,
    Job,
    JobState,
    OutputFolderError,
    QueueCounts,
    SourceChanged,
    SourceMissing,
    check_transition,
    classify,
    new_idempotency_key,
    resume_state,
)

S = JobState
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)

CLASSIFY_TABLE = [
    # error, action, counts against the budget, kind
    (CloudUnreachable("refused"), Action.LINK_DOWN, True, "offline"),
    (CaptivePortal("login page"), Action.LINK_DOWN, True, "captive_portal"),
    (CloudUnavailable("HTTP 500"), Action.RETRY, True, "unavailable"),
    (CloudUnavailable("429", retry_after=7), Action.THROTTLE, False, "unavailable"),
    (CloudUnavailable("503", retry_after=30), Action.THROTTLE, False, "unavailable"),
    (ProtocolError("bad json"), Action.RETRY, True, "protocol"),
    (InsufficientCredits("402"), Action.PAUSE, False, "credits"),
    (AuthFailed("expired"), Action.PAUSE, False, "auth"),
    (NotConfigured("no token"), Action.PAUSE, False, "auth"),
    (RequestRejected("bad image", code="invalid_image", status=422), Action.FAIL, True,
     "rejected"),
    (RequestRejected("media", code="unsupported_media_type", status=415), Action.FAIL, True,
     "rejected"),
    (RequestRejected("busy", code="idempotency_conflict", status=409), Action.RETRY, True,
     "in_progress"),
    (RequestRejected("gone", code="not_found", status=404), Action.FAIL, True, "rejected"),
    (SourceMissing("deleted"), Action.FAIL, True, "source"),
    (SourceChanged("changed"), Action.FAIL, True, "source"),
    (OutputFolderError("disk full"), Action.RETRY, False, "output_folder"),
    (StorageError("db locked"), Action.RETRY, False, "storage"),
]


@pytest.mark.parametrize(("error", "action", "counts", "kind"), CLASSIFY_TABLE,
                         ids=[f"{type(e).__name__}-{k}" for e, _, _, k in CLASSIFY_TABLE])
def test_classify(error, action, counts, kind):
    d = classify(error)
    assert (d.action, d.counts, d.kind) == (action, counts, kind)
    assert d.message == str(error)


def test_throttle_keeps_the_servers_retry_after():
    assert classify(CloudUnavailable("slow down", retry_after=12)).retry_after == 12


TRANSITION_TABLE = [
    (S.PENDING, S.SENDING, True),
    (S.PENDING, S.HELD, True),
    (S.HELD, S.PENDING, True),
    (S.HELD, S.SENDING, False),  # a held job goes back through the queue (and the preflight)
    (S.SENDING, S.WAITING_RESULT, True),
    (S.SENDING, S.PENDING, True),  # a failed upload: sent again later under the same key
    (S.SENDING, S.REMOVED, False),  # never remove a job while its upload may be under way
    (S.WAITING_RESULT, S.DOWNLOADING, True),
    (S.WAITING_RESULT, S.PENDING, False),  # the cloud has it: never submit it again
    (S.DOWNLOADING, S.SUCCEEDED, True),
    (S.SUCCEEDED, S.PENDING, False),
    (S.FAILED, S.PENDING, True),
    (S.GIVEN_UP, S.WAITING_RESULT, True),
    (S.REMOVED, S.PENDING, False),
]


@pytest.mark.parametrize(("before", "after", "allowed"), TRANSITION_TABLE,
                         ids=[f"{a.value}->{b.value}" for a, b, _ in TRANSITION_TABLE])
def test_transitions(before, after, allowed):
    if allowed:
        check_transition(before, after)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(before, after)


def test_every_state_has_a_rule_and_final_states_only_leave_by_operator_action():
    assert set(TRANSITIONS) == set(JobState)
    assert OPEN.isdisjoint(FINAL)
    assert TRANSITIONS[S.REMOVED] == frozenset()
    for final in FINAL:
        assert S.SENDING not in TRANSITIONS[final]


def _job(**kw) -> Job:
    base = dict(id="j-1", seq=1, idempotency_key="k", source_path="/p.jpg", feature="draw_me",
                content_hash="h", size_bytes=1, media_type="image/jpeg", origin="cli",
                result_path="/out/p.jpg", state=S.GIVEN_UP, created_at=T0, updated_at=T0)
    base.update(kw)
    return Job(**base)


@pytest.mark.parametrize(("cloud_id", "ready", "expected"), [
    (None, False, S.PENDING),
    ("job_1", False, S.WAITING_RESULT),
    ("job_1", True, S.DOWNLOADING),
])
def test_a_retried_job_resumes_where_the_cloud_left_it(cloud_id, ready, expected):
    assert resume_state(_job(cloud_job_id=cloud_id, result_ready=ready)) is expected


def test_keys_are_unique_and_do_not_come_from_the_photo():
    keys = {new_idempotency_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(k.startswith("bcm-") and len(k) < 255 for k in keys)


def test_counts_and_json():
    counts = QueueCounts({"pending": 2, "held": 1, "succeeded": 5, "sending": 1})
    assert counts.open == 4
    doc = counts.to_json()
    assert doc["open"] == 4 and doc["succeeded"] == 5 and doc["failed"] == 0
    assert doc["paused"] is None


def test_job_json_carries_every_timestamp():
    doc = _job(finished_at=T0).to_json(events=[])
    # RFC 3339 UTC with "Z", as in every JSON output (not Python's "+00:00")
    stamp = T0.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert doc["created_at"] == stamp and doc["finished_at"] == stamp
    assert doc["events"] == []
