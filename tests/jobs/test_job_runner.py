"""One step of one job, for every kind of answer: a table of (situation, expected state)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from app.adapters.store.jobs_repo import JobsRepo
from app.core.bandwidth import PreflightResult, Verdict
from app.core.errors import (
    AuthFailed,
    CaptivePortal,
    CloudUnavailable,
    CloudUnreachable,
    InsufficientCredits,
    ProtocolError,
    RequestRejected,
)
from app.core.job_link import LinkVerdict, PreflightLink
from app.core.job_runner import CloudJob, JobRunner, RunPolicy
from app.core.jobs import Action, JobState, NewJob, OutputFolderError
from tests.jobs.fakes import PHOTO_HASH, T0, Clock, FakeCloud, FakeFiles, FakeLink

S = JobState
OWNER = "test-owner"


@dataclass
class Case:
    name: str
    submits: list = field(default_factory=list)
    statuses: list = field(default_factory=list)
    downloads: list = field(default_factory=list)
    link: LinkVerdict | None = LinkVerdict.OK
    hold: bool = True
    files: dict | None = None
    expect: JobState = S.SUCCEEDED
    attempts: int = 0
    action: Action | None = None
    error_kind: str | None = None
    start_attempts: int = 0
    steps: int = 1  # claims in a row, the clock moved to each next due time
    age_days: float = 0  # how long ago the job was queued


CASES = [
    Case("happy path: sent, polled, downloaded", steps=2),
    Case("accepted: waits for the result", expect=S.WAITING_RESULT),
    Case("cloud still running: poll again later",
         statuses=[CloudJob("job_1", "running")], expect=S.WAITING_RESULT, steps=2),
    Case("connection refused: link down, retry later", submits=[CloudUnreachable("refused")],
         expect=S.PENDING, attempts=1, action=Action.LINK_DOWN, error_kind="offline"),
    Case("captive portal: offline", submits=[CaptivePortal("login page")], expect=S.PENDING,
         attempts=1, action=Action.LINK_DOWN, error_kind="captive_portal"),
    Case("HTTP 500: retry with backoff", submits=[CloudUnavailable("HTTP 500")],
         expect=S.PENDING, attempts=1, action=Action.RETRY),
    Case("429: throttle, no retry used", submits=[CloudUnavailable("slow", retry_after=9)],
         expect=S.PENDING, attempts=0, action=Action.THROTTLE),
    Case("malformed JSON: retry", submits=[ProtocolError("unreadable")], expect=S.PENDING,
         attempts=1, action=Action.RETRY, error_kind="protocol"),
    Case("402: pause the queue, job waits unharmed", submits=[InsufficientCredits("402")],
         expect=S.PENDING, attempts=0, action=Action.PAUSE, error_kind="credits"),
    Case("401 expired token: pause", submits=[AuthFailed("expired")], expect=S.PENDING,
         action=Action.PAUSE, error_kind="auth"),
    Case("422 invalid image: permanent",
         submits=[RequestRejected("bad", code="invalid_image", status=422)], expect=S.FAILED,
         attempts=0, action=Action.FAIL, error_kind="rejected"),
    Case("415: permanent",
         submits=[RequestRejected("bad", code="unsupported_media_type", status=415)],
         expect=S.FAILED, action=Action.FAIL),
    Case("retry budget used up: given up", submits=[CloudUnavailable("HTTP 500")],
         start_attempts=2, expect=S.GIVEN_UP, attempts=3, action=Action.RETRY),
    Case("slow link, hold by default", link=LinkVerdict.SLOW, expect=S.HELD),
    Case("slow link, warn-only setting sends anyway", link=LinkVerdict.SLOW, hold=False,
         steps=2),
    Case("no link per the preflight: nothing sent, no retry used", link=LinkVerdict.OFFLINE,
         expect=S.PENDING, attempts=0, action=Action.LINK_DOWN),
    Case("photo deleted while queued", files={}, expect=S.FAILED, action=Action.FAIL,
         error_kind="source"),
    Case("photo changed while queued", files={"/in/p.jpg": b"\xff\xd8\xffother"},
         expect=S.FAILED, error_kind="source", action=Action.FAIL),
    Case("the cloud failed the job (and charged)",
         statuses=[CloudJob("job_1", "failed", "render node lost", 150)], expect=S.FAILED,
         error_kind="cloud_failed", steps=2),
    Case("disk full writing the result: stays downloading, no retry used",
         downloads=[OutputFolderError("full")], expect=S.DOWNLOADING, attempts=0,
         action=Action.RETRY, error_kind="output_folder", steps=2),
    Case("may have reached the cloud 7 days ago: not re-sent (its key may be gone)",
         start_attempts=1, age_days=7, expect=S.GIVEN_UP, attempts=1, error_kind="key_age"),
    Case("never reached the cloud, 7 days old: still sent", age_days=7,
         expect=S.WAITING_RESULT),
    Case("reset while polling: stays waiting", statuses=[CloudUnreachable("reset")],
         expect=S.WAITING_RESULT, attempts=1, action=Action.LINK_DOWN, steps=2),
]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(tmp_path, clock):
    db = clock.database(tmp_path / "m.sqlite3")
    yield JobsRepo(db)
    db.close()


def _queued(repo: JobsRepo, clock: Clock, attempts: int = 0):
    job, _ = repo.enqueue(NewJob("/in/p.jpg", "draw_me", PHOTO_HASH, 10, "image/jpeg", "cli",
                                 "/out/p.draw_me.jpg"), clock())
    if attempts:
        repo.claim(OWNER, clock(), 30)
        job = repo.transition(repo.get(job.id), OWNER, S.PENDING, at=clock(), note="setup",
                              release=True, attempts=attempts)
    return repo.claim(OWNER, clock(), 30)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_step(case: Case, repo: JobsRepo, clock: Clock):
    cloud = FakeCloud(list(case.submits), list(case.statuses), list(case.downloads))
    link = FakeLink(case.link) if case.link else None
    runner = JobRunner(cloud, repo, FakeFiles(case.files), link, clock,
                       RunPolicy(retry_budget=3, hold_on_slow_link=case.hold))
    job = _queued(repo, clock, case.start_attempts)
    clock.advance(case.age_days * 86400)  # (the lease ran out, but nobody else took it)
    for n in range(case.steps):
        if n:
            clock.now = max(clock(), job.next_attempt_at or clock())
            job = repo.claim(OWNER, clock(), 30)
        result = runner.step(job, OWNER)
        job = result.job
    stored = repo.get(job.id)
    assert stored.state is case.expect
    assert stored.attempts == case.attempts
    assert stored.owner is None, "a step always hands its lease back"
    assert (result.disposition.action if result.disposition else None) is case.action
    if case.error_kind:
        assert stored.last_error_kind == case.error_kind and stored.last_error
    assert len(set(cloud.keys)) <= 1, "every send of one job uses its one key"


def test_history_has_a_timestamped_row_per_state_change(repo, clock):
    runner = JobRunner(FakeCloud(statuses=[CloudJob("job_1", "running")]), repo, FakeFiles(),
                       None, clock)
    job = runner.step(_queued(repo, clock), OWNER).job
    for _ in range(2):  # a poll that finds no change is not history
        clock.advance(5)
        job = runner.step(repo.claim(OWNER, clock(), 30), OWNER).job
    events = repo.history(job.id)
    assert [e.to_state for e in events] == [S.PENDING, S.SENDING, S.WAITING_RESULT,
                                            S.DOWNLOADING, S.SUCCEEDED]
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert events[-1].at == clock()


def test_a_job_reclaimed_in_sending_is_sent_again_with_the_same_key(repo, clock):
    cloud = FakeCloud()
    runner = JobRunner(cloud, repo, FakeFiles(), FakeLink(), clock)
    job = _queued(repo, clock)
    # The first owner moved it to "sending" and died before recording the answer.
    repo.transition(job, OWNER, S.SENDING, at=clock(), note="upload started", release=False)
    clock.advance(31)
    reclaimed = repo.claim("second-owner", clock(), 30)
    assert reclaimed.state is S.SENDING
    runner.step(reclaimed, "second-owner")
    assert cloud.keys == [job.idempotency_key]
    assert repo.get(job.id).state is S.WAITING_RESULT
    assert repo.get(job.id).cloud_job_id == "job_1"


def test_backoff_grows_and_respects_retry_after(repo, clock):
    errors = [CloudUnavailable("HTTP 500")] * 3
    runner = JobRunner(FakeCloud(submits=list(errors)), repo, FakeFiles(), None, clock,
                       RunPolicy(retry_budget=10))
    job = _queued(repo, clock)
    delays = []
    for _ in errors:
        job = runner.step(job, OWNER).job
        delays.append((job.next_attempt_at - clock()).total_seconds())
        clock.advance(delays[-1] + 0.001)
        job = repo.claim(OWNER, clock(), 30)
    assert all(1.0 <= d <= 300 for d in delays)
    assert [job.attempts] == [3]


@pytest.mark.parametrize(("verdict", "reason", "expected", "summary_has"), [
    (Verdict.OK, "", LinkVerdict.OK, "ok: up 9.0"),
    (Verdict.MARGINAL, "", LinkVerdict.OK, "marginal"),
    (Verdict.SLOW, "", LinkVerdict.SLOW, "slow: up 9.0"),
    (Verdict.OFFLINE, "Cannot connect to the cloud.", LinkVerdict.OFFLINE, "Cannot connect"),
])
def test_the_bandwidth_preflight_as_the_job_path_sees_it(verdict, reason, expected, summary_has):
    class StubPreflight:
        def __init__(self) -> None:
            self.asked: list[float] = []

        def check(self, max_age_seconds: float) -> PreflightResult:
            self.asked.append(max_age_seconds)
            return PreflightResult(9.0, 9.0, verdict, 5.0, 0, 0, 1.0, "test", T0, reason)

    stub = StubPreflight()
    report = PreflightLink(stub, 120).check()  # type: ignore[arg-type]
    assert report.verdict is expected and summary_has in report.summary
    assert stub.asked == [120], "a fresh enough result is reused, not probed again"


def test_an_operator_retry_restarts_the_key_age_clock(repo, clock):
    cloud = FakeCloud()
    runner = JobRunner(cloud, repo, FakeFiles(), None, clock)
    job = _queued(repo, clock, attempts=1)
    clock.advance(7 * 86400)
    assert runner.step(job, OWNER).job.state is S.GIVEN_UP and cloud.keys == []
    [retried] = repo.retry([job.id], clock())
    assert retried.key_since == clock()
    assert runner.step(repo.claim(OWNER, clock(), 30), OWNER).job.state is S.WAITING_RESULT
    assert cloud.keys == [job.idempotency_key]


def test_a_paused_job_is_parked_instead_of_asking_the_cloud_again_at_once(repo, clock):
    runner = JobRunner(FakeCloud(statuses=[AuthFailed("expired")]), repo, FakeFiles(), None,
                       clock, RunPolicy(pause_delay=120))
    job = runner.step(_queued(repo, clock), OWNER).job  # accepted; now the token expires
    clock.now = job.next_attempt_at
    result = runner.step(repo.claim(OWNER, clock(), 30), OWNER)
    assert result.disposition.action is Action.PAUSE
    assert result.job.state is S.WAITING_RESULT and result.job.attempts == 0
    assert (result.job.next_attempt_at - clock()).total_seconds() == 120
    assert repo.claim(OWNER, clock(), 30) is None, "not due again until the pause is over"
    repo.due_now(clock())  # what resuming the queue does
    assert repo.claim(OWNER, clock(), 30).id == job.id
