"""Claims filed with the cloud's refund-request endpoint, against the demo cloud: real jobs
through the job path, a real synced ledger, real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.adapters.store.jobs_repo import JobsRepo
from app.core.jobs import JobState
from app.core.model import EntryKind
from app.core.refunds import ClaimStatus, Rule
from app.democloud.server import DemoCloud
from app.orchestration.refund_path import refund_counts
from tests.conftest import wait_until
from tests.refunds.conftest import TOKEN, Booth, refund_requests
from tests.support.fault_proxy import FaultProxy


def all_filed(booth: Booth) -> bool:
    booth.refunds.cycle()
    return all(c.status is not ClaimStatus.PENDING for c in booth.refunds.claims())


def settle(booth: Booth, *statuses: ClaimStatus, timeout: float = 15.0) -> None:
    """Sync and cycle until every claim is in one of `statuses` (the demo decides in ~1 s)."""
    def done() -> bool:
        booth.sync()
        booth.refunds.cycle()
        return all(c.status in statuses for c in booth.refunds.claims())
    wait_until(done, timeout=timeout, step=0.2)
    # The cloud can decide between the sync and the cycle's follow-up: the claim then says
    # refunded before the refund entry is in the synced history. One more sync brings it.
    booth.sync()


def test_every_failed_after_charge_job_is_claimed_once_and_refunded(cloud: DemoCloud, booths):
    booth = booths(cloud.url)
    booth.run_jobs(6)
    booth.sync()
    jobs = booth.jobs()
    failed = {j.cloud_job_id: j for j in jobs if j.state is JobState.FAILED}
    delivered = {j.cloud_job_id for j in jobs if j.state is JobState.SUCCEEDED}
    assert len(failed) == 3 and len(delivered) == 3

    report = booth.refunds.cycle()
    claims = booth.refunds.claims()
    assert {c.cloud_job_id for c in claims} == set(failed)  # and none for a delivered job
    assert all(c.rule is Rule.FAILED_AFTER_CHARGE and c.status is ClaimStatus.FILED
               and c.channel == "cloud" and c.remote_id for c in claims)
    charges = {e.job_id: e for e in booth.runtime.cache.recent_entries(500)
               if e.kind is EntryKind.AI_RUN}
    history = JobsRepo(booth.runtime.db)
    for claim in claims:
        job = failed[claim.cloud_job_id]
        events = history.history(job.id)
        assert claim.ledger_entry_id == charges[claim.cloud_job_id].id
        assert claim.charged_at == charges[claim.cloud_job_id].timestamp
        # Every moment the claim cites is on the cloud's clock, like the charge it points at:
        # the cloud's acceptance and failure of the job, not the booth's upload attempt.
        assert claim.submitted_at == job.cloud_created_at is not None
        assert claim.failed_at == job.cloud_ended_at is not None
        assert any(e.to_state is JobState.FAILED for e in events)
        assert claim.submitted_at <= claim.charged_at <= claim.failed_at
        assert claim.job_key == job.idempotency_key and claim.error == job.last_error
    assert refund_requests(cloud) == {c.ledger_entry_id: 1 for c in claims}
    assert [n.title for n in report.notices] == ["Refund requested"]
    assert "3 charged AI jobs" in report.notices[0].message

    settle(booth, ClaimStatus.REFUNDED)
    refunds = {e.id: e for e in booth.runtime.cache.recent_entries(500)
               if e.kind is EntryKind.REFUND}
    for claim in booth.refunds.claims():
        assert claim.refund_entry_id in refunds and claim.refunded_cents == 150
    assert booth.refunds.summary().text() == "3 failed jobs, $4.50 claimed, $4.50 refunded"
    counts = refund_counts(booth.runtime)
    assert counts["by_status"]["refunded"] == 3 and counts["refunded_cents"] == 450

    # A restart finds the same failed jobs and the same charges: nothing new is claimed.
    booth.close()
    again = booths(cloud.url)
    again.sync()
    assert again.refunds.cycle().new_claims == []
    assert len(again.refunds.claims()) == 3
    assert refund_requests(cloud) == {c.ledger_entry_id: 1 for c in claims}


def test_claims_made_offline_are_filed_when_the_cloud_is_back(cloud: DemoCloud, booths):
    booth = booths(cloud.url)
    booth.run_jobs(6)
    booth.sync()
    cloud.stop()
    report = booth.refunds.cycle()
    assert len(report.new_claims) == 3
    assert {c.status for c in booth.refunds.claims()} == {ClaimStatus.PENDING}
    assert report.problems == []  # being offline fixes itself: no alert, status says it
    assert refund_counts(booth.runtime)["problems"]["cloud"]["waiting"] == 3

    cloud.start()  # same port, same database
    wait_until(lambda: all_filed(booth), step=0.05)
    assert refund_requests(cloud) == {c.ledger_entry_id: 1 for c in booth.refunds.claims()}
    assert refund_counts(booth.runtime)["problems"] == {}


@pytest.fixture
def proxy(cloud: DemoCloud) -> Iterator[FaultProxy]:
    p = FaultProxy(cloud.url)
    p.start()
    yield p
    p.clear()
    p.stop()


def test_a_lost_answer_is_resent_under_the_same_key(cloud: DemoCloud, proxy: FaultProxy, booths):
    booth = booths(proxy.url)
    booth.run_jobs(6)
    booth.sync()
    proxy.inject("reset_after", method="POST", path="/v1/refund-requests", times=2)
    wait_until(lambda: all_filed(booth), step=0.05)
    # The cloud acted on the first attempts; the re-sends replayed them.
    assert refund_requests(cloud) == {c.ledger_entry_id: 1 for c in booth.refunds.claims()}
    attempts = booth.refunds.repo.attempts()
    assert sum(a["outcome"] == "failed" for a in attempts) == 2


def test_a_cloud_without_refund_requests_tells_the_operator(cloud, proxy: FaultProxy, booths):
    booth = booths(proxy.url)
    booth.run_jobs(6)
    booth.sync()
    proxy.inject("status", method="POST", path="/v1/refund-requests", status=404, times=50)
    report = booth.refunds.cycle()
    assert {c.status for c in booth.refunds.claims()} == {ClaimStatus.PENDING}
    (problem,) = report.problems
    assert problem.key == "refund-problem:cloud:not_offered"
    assert "3 claims waiting" in problem.message and "email" in problem.message


def test_a_claim_the_cloud_already_holds_is_adopted(cloud: DemoCloud, booths):
    """Another booth (or this one before its data folder was lost) filed first, under its own
    key: the cloud says duplicate_claim and the booth follows the existing request."""
    booth = booths(cloud.url)
    booth.run_jobs(6)
    booth.sync()
    claim = booth.refunds.relay.detect()[0]
    other = httpx.post(f"{cloud.url}/v1/refund-requests", headers={
        "Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "other-booth-key"}, json={
        "ledger_entry_id": claim.ledger_entry_id, "feature": claim.feature,
        "amount_cents": claim.amount_cents, "charged_at": "2025-01-01T00:00:00Z",
        "reason": "filed by hand", "account_email": "demo@booth.example"}, timeout=5).json()
    booth.refunds.cycle()
    adopted = booth.refunds.repo.get(claim.id)
    assert adopted is not None and adopted.status is not ClaimStatus.PENDING
    assert adopted.remote_id == other["id"]
    assert refund_requests(cloud)[claim.ledger_entry_id] == 1
