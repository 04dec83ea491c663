"""Detection and refund matching as tables: one row per situation a booth meets."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from app.core.model import EntryKind, LedgerEntry
from app.core.refund_rules import RulePolicy, find_claims, match_refunds, should_withdraw
from app.core.refunds import Claim, ClaimStatus, Ending, JobOutcome, Rule

T0 = datetime(2025, 6, 12, 21, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(hours=2)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def job(name: str, ending: Ending, start: float, end: float | None = None, *,
        feature: str = "draw_me", cloud: str | None = "same", charged: int | None = 150
        ) -> JobOutcome:
    return JobOutcome(
        job_id=f"j-{name}", feature=feature, ending=ending, idempotency_key=f"bcm-{name}",
        created_at=at(start - 1), cloud_job_id=f"job_{name}" if cloud == "same" else cloud,
        submitted_at=at(start), ended_at=None if end is None else at(end),
        charged_cents=charged, error=f"error of {name}" if ending is not Ending.DELIVERED
        else None)


def charge(entry_id: str, seconds: float, job_id: str | None, *, feature: str = "draw_me",
           cents: int = 150, kind: EntryKind = EntryKind.AI_RUN) -> LedgerEntry:
    return LedgerEntry(id=entry_id, timestamp=at(seconds), kind=kind, amount_cents=-cents,
                       balance_after_cents=10_000, feature=feature, job_id=job_id)


F, D, G = Ending.FAILED, Ending.DELIVERED, Ending.GIVEN_UP
CASES = [
    # (situation, jobs, ledger, already claimed, expected [(entry, rule)])
    ("failed after charge", [job("a", F, 0, 30)], [charge("le1", 2, "job_a")], set(),
     [("le1", Rule.FAILED_AFTER_CHARGE)]),
    ("delivered: never claimed", [job("a", D, 0, 30)], [charge("le1", 2, "job_a")], set(), []),
    ("given up after charge", [job("a", G, 0, 900)], [charge("le1", 2, "job_a")], set(),
     [("le1", Rule.NO_RESULT)]),
    ("still open", [job("a", Ending.OPEN, 0)], [charge("le1", 2, "job_a")], set(), []),
    ("removed while open", [job("a", Ending.REMOVED, 0, 60)], [charge("le1", 2, "job_a")],
     set(), []),
    ("delivered, charged twice", [job("a", D, 0, 30)],
     [charge("le1", 2, "job_a"), charge("le2", 3, "job_a")], set(),
     [("le2", Rule.DUPLICATE_CHARGE)]),
    ("failed, charged twice", [job("a", F, 0, 30)],
     [charge("le1", 2, "job_a"), charge("le2", 3, "job_a")], set(),
     [("le1", Rule.FAILED_AFTER_CHARGE), ("le2", Rule.DUPLICATE_CHARGE)]),
    ("another booth's failed job", [job("a", F, 0, 30)], [charge("le9", 5, "job_other")],
     set(), []),
    ("no job id: matched by feature and time", [job("a", F, 0, 30)],
     [charge("le1", 4, None)], set(), [("le1", Rule.TIME_WINDOW)]),
    ("no job id, other feature", [job("a", F, 0, 30)],
     [charge("le1", 4, None, feature="ai_headshot")], set(), []),
    ("no job id, long before the job", [job("a", F, 600, 630)], [charge("le1", 4, None)],
     set(), []),
    ("no job id, amount differs from what the cloud said", [job("a", F, 0, 30)],
     [charge("le1", 4, None, cents=300)], set(), []),
    ("no job id: the delivered neighbour keeps its own charge",
     [job("a", D, 0, 10, cloud=None), job("b", F, 20, 40, cloud=None)],
     [charge("le1", 5, None), charge("le2", 25, None)], set(), [("le2", Rule.TIME_WINDOW)]),
    ("no job id: one charge, and the delivered job came first",
     [job("a", D, 0, 10, cloud=None), job("b", F, 20, 40, cloud=None)],
     [charge("le1", 5, None)], set(), []),
    ("entry already claimed", [job("a", F, 0, 30)], [charge("le1", 2, "job_a")], {"le1"}, []),
    ("purchases and refunds are not charges", [job("a", F, 0, 30)],
     [charge("le1", 2, "job_a", kind=EntryKind.REFUND, cents=-150),
      charge("le2", 3, None, kind=EntryKind.PURCHASE, cents=-5000)], set(), []),
    ("failed before any charge (cloud said 0)", [job("a", F, 0, 30, charged=0)],
     [charge("le1", 4, None)], set(), []),
    ("never sent: no upload ever started",
     [replace(job("a", G, 0, 30, cloud=None, charged=None), submitted_at=None)],
     [charge("le1", 4, None)], set(), []),
]


@pytest.mark.parametrize(("jobs", "ledger", "claimed", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_which_charges_are_claimed(jobs, ledger, claimed, expected):
    found = find_claims(jobs, ledger, claimed, NOW)
    assert [(c.ledger_entry_id, c.rule) for c in found] == expected
    assert len({c.idempotency_key for c in found}) == len(found)


def test_a_claim_carries_every_timestamp_support_needs():
    (claim,) = find_claims([job("a", F, 0, 30)], [charge("le1", 2, "job_a")], set(), NOW)
    assert claim.feature == "draw_me" and claim.amount_cents == 150
    assert (claim.submitted_at, claim.charged_at, claim.failed_at) == (at(0), at(2), at(30))
    assert claim.job_id == "j-a" and claim.cloud_job_id == "job_a" and claim.job_key == "bcm-a"
    assert claim.error == "error of a" and claim.status is ClaimStatus.PENDING
    assert claim.hold_until is None and claim.reason


def test_a_given_up_claim_waits_for_an_operator_retry():
    policy = RulePolicy(given_up_grace=timedelta(minutes=10))
    (claim,) = find_claims([job("a", G, 0, 900)], [charge("le1", 2, "job_a")], set(), NOW,
                           policy)
    assert claim.hold_until == at(900) + timedelta(minutes=10)


def claim_for(entry_id: str, *, status=ClaimStatus.FILED, cloud_job="job_a", cents=150,
              rule=Rule.FAILED_AFTER_CHARGE) -> Claim:
    return Claim(id=f"rc-{entry_id}", ledger_entry_id=entry_id, rule=rule, feature="draw_me",
                 amount_cents=cents, charged_at=at(2), reason="r", idempotency_key=f"k-{entry_id}",
                 created_at=at(60), status=status, cloud_job_id=cloud_job, job_id="j-a")


def refund(entry_id: str, seconds: float, job_id: str | None, cents: int = 150,
           description: str = "") -> LedgerEntry:
    return LedgerEntry(id=entry_id, timestamp=at(seconds), kind=EntryKind.REFUND,
                       amount_cents=cents, balance_after_cents=0, feature="draw_me",
                       job_id=job_id, description=description)


REFUND_CASES = [
    ("same job and amount", [claim_for("le1")], [refund("rf1", 100, "job_a")], set(),
     [("le1", "rf1")]),
    ("cites the charged entry", [claim_for("le1", cloud_job=None)],
     [refund("rf1", 100, None, 100, "Refund: Draw Me charge le1 (request rr_1)")], set(),
     [("le1", "rf1")]),
    ("other amount, no citation", [claim_for("le1")], [refund("rf1", 100, "job_a", 50)], set(),
     []),
    ("recorded before the charge", [claim_for("le1")], [refund("rf1", 1, "job_a")], set(), []),
    ("one refund for two claims on one job", [claim_for("le1"), claim_for("le2")],
     [refund("rf1", 100, "job_a")], set(), [("le1", "rf1")]),
    ("each refund answers one claim", [claim_for("le1"), claim_for("le2")],
     [refund("rf1", 100, "job_a"), refund("rf2", 101, "job_a")], set(),
     [("le1", "rf1"), ("le2", "rf2")]),
    ("citation wins over job and amount",
     [claim_for("le1"), claim_for("le2", rule=Rule.DUPLICATE_CHARGE)],
     [refund("rf1", 100, "job_a", description="charge le2")], set(), [("le2", "rf1")]),
    ("refund entry already used", [claim_for("le1")], [refund("rf1", 100, "job_a")], {"rf1"},
     []),
    ("withdrawn claims ask for nothing", [claim_for("le1", status=ClaimStatus.WITHDRAWN)],
     [refund("rf1", 100, "job_a")], set(), []),
    ("a rejected claim refunded after all", [claim_for("le1", status=ClaimStatus.REJECTED)],
     [refund("rf1", 100, "job_a")], set(), [("le1", "rf1")]),
    ("the entry names the claim's cloud request, whatever the amount",
     [claim_for("le1", cloud_job=None), replace(claim_for("le2"), remote_id="rr_9")],
     [replace(refund("rf1", 100, None, 75), refund_request_id="rr_9")], set(),
     [("le2", "rf1")]),
]


@pytest.mark.parametrize(("claims", "ledger", "used", "expected"),
                         [c[1:] for c in REFUND_CASES], ids=[c[0] for c in REFUND_CASES])
def test_which_refund_entries_answer_which_claims(claims, ledger, used, expected):
    pairs = match_refunds(claims, ledger, used)
    assert sorted((c.ledger_entry_id, e.id) for c, e in pairs) == expected


WITHDRAW_CASES = [
    ("pending, job delivered later", ClaimStatus.PENDING, Rule.NO_RESULT, D, True),
    ("pending, job still failed", ClaimStatus.PENDING, Rule.FAILED_AFTER_CHARGE, F, False),
    ("already filed", ClaimStatus.FILED, Rule.NO_RESULT, D, False),
    ("a double charge stays claimed", ClaimStatus.PENDING, Rule.DUPLICATE_CHARGE, D, False),
]


@pytest.mark.parametrize(("status", "rule", "ending", "withdraw"),
                         [c[1:] for c in WITHDRAW_CASES], ids=[c[0] for c in WITHDRAW_CASES])
def test_when_a_claim_is_withdrawn(status, rule, ending, withdraw):
    claim = claim_for("le1", status=status, rule=rule)
    assert should_withdraw(claim, job("a", ending, 0, 30)) is withdraw
