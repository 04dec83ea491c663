"""Which deductions to claim back, and which refund entries answer a claim. Pure functions.

The balance is shared by every booth on the account, so the rules only ever claim charges this
booth can prove are its own: the ledger names one of our cloud jobs, or (when the ledger names no
job at all) the charge falls inside the time one of our jobs was running, for the same feature.
The first charge of a job that delivered its result is never claimed; a second charge for one job
is claimed whatever happened to it, because one key bought one run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.model import EntryKind, LedgerEntry
from app.core.refunds import (
    Claim,
    ClaimStatus,
    Ending,
    JobOutcome,
    Rule,
    new_claim_id,
    new_refund_key,
)

CLAIMABLE = frozenset({Ending.FAILED, Ending.GIVEN_UP})

REASONS = {
    Rule.FAILED_AFTER_CHARGE: "The AI job failed after it was charged; no result was delivered.",
    Rule.NO_RESULT: "The AI job was charged, but the booth never received its result (it gave "
    "up waiting).",
    Rule.DUPLICATE_CHARGE: "A second charge for the same job: the booth sent it under one "
    "idempotency key and asked for one run.",
    Rule.TIME_WINDOW: "The AI job failed after it was charged; no result was delivered. The "
    "usage history names no job, so the charge was matched by feature and time.",
}


@dataclass(frozen=True)
class RulePolicy:
    # Booth and cloud clocks disagree by seconds to minutes; a window this much wider on each
    # side still catches the charge, and is narrow next to the 20-60 s between photos.
    clock_skew: timedelta = timedelta(minutes=2)
    # A given-up job may still be retried by the operator and deliver; wait this long before
    # filing its claim (the claim is withdrawn if it delivers meanwhile).
    given_up_grace: timedelta = timedelta(minutes=10)


def find_claims(jobs: Sequence[JobOutcome], entries: Iterable[LedgerEntry],
                claimed_entry_ids: Set[str], now: datetime,
                policy: RulePolicy | None = None) -> list[Claim]:
    """New claims for deductions not claimed before (each ledger entry is claimed at most once)."""
    policy = policy or RulePolicy()
    charges = sorted((e for e in entries if e.kind is EntryKind.AI_RUN and e.amount_cents < 0),
                     key=lambda e: (e.timestamp, e.id))
    found: list[Claim] = []
    ours = {j.cloud_job_id: j for j in jobs if j.cloud_job_id}
    charges_seen: dict[str, int] = {}
    for entry in charges:
        job = ours.get(entry.job_id or "")
        if job is None:
            continue  # no job id (see below), or another booth's job: never ours to claim
        earlier = charges_seen.get(job.job_id, 0)
        charges_seen[job.job_id] = earlier + 1
        if earlier:
            rule = Rule.DUPLICATE_CHARGE
        elif job.ending is Ending.FAILED:
            rule = Rule.FAILED_AFTER_CHARGE
        elif job.ending is Ending.GIVEN_UP:
            rule = Rule.NO_RESULT
        else:
            continue
        if entry.id not in claimed_entry_ids:
            found.append(_claim(rule, job, entry, now, policy))
    linked = set(charges_seen)
    unlinked = [e for e in charges if not e.job_id]
    for job, entry in _match_by_window([j for j in jobs if j.job_id not in linked], unlinked,
                                       now, policy):
        if job.ending in CLAIMABLE and entry.id not in claimed_entry_ids:
            found.append(_claim(Rule.TIME_WINDOW, job, entry, now, policy))
    return found


def _match_by_window(jobs: Sequence[JobOutcome], charges: Sequence[LedgerEntry], now: datetime,
                     policy: RulePolicy) -> list[tuple[JobOutcome, LedgerEntry]]:
    """Pair jobs with charges one to one: each job, oldest first, takes the earliest free charge
    for its feature inside the time it ran. Delivered and open jobs take part too, so a failed
    job never takes the charge that paid for a neighbour's delivered photo."""
    sent = [j for j in jobs if (j.submitted_at is not None or j.cloud_job_id is not None)
            and j.charged_cents != 0]
    sent.sort(key=lambda j: (j.submitted_at or j.created_at, j.job_id))
    free = list(charges)
    pairs = []
    for job in sent:
        start = (job.submitted_at or job.created_at) - policy.clock_skew
        end = (job.ended_at or now) + policy.clock_skew
        for entry in free:
            if (entry.feature == job.feature and start <= entry.timestamp <= end
                    and (not job.charged_cents or -entry.amount_cents == job.charged_cents)):
                free.remove(entry)
                pairs.append((job, entry))
                break
    return pairs


def _claim(rule: Rule, job: JobOutcome, entry: LedgerEntry, now: datetime,
           policy: RulePolicy) -> Claim:
    hold = None
    if rule is Rule.NO_RESULT:
        hold = (job.ended_at or now) + policy.given_up_grace
    failed_at = job.ended_at if job.ending in CLAIMABLE else None
    return Claim(
        id=new_claim_id(), ledger_entry_id=entry.id, rule=rule,
        feature=entry.feature or job.feature, amount_cents=-entry.amount_cents,
        charged_at=entry.timestamp, reason=REASONS[rule], idempotency_key=new_refund_key(),
        created_at=now, updated_at=now, job_id=job.job_id,
        cloud_job_id=entry.job_id or job.cloud_job_id, job_key=job.idempotency_key,
        submitted_at=job.submitted_at, failed_at=failed_at, error=job.error, hold_until=hold,
        photo=job.photo,
    )


def should_withdraw(claim: Claim, job: JobOutcome | None) -> bool:
    """A claim not yet filed whose job delivered its result after all (an operator retry of a
    given-up job) asks for nothing. Duplicate charges stay claimed: one run was paid twice."""
    return (claim.status is ClaimStatus.PENDING and claim.rule is not Rule.DUPLICATE_CHARGE
            and job is not None and job.ending is Ending.DELIVERED)


def match_refunds(claims: Iterable[Claim], entries: Iterable[LedgerEntry],
                  used_entry_ids: Set[str]) -> list[tuple[Claim, LedgerEntry]]:
    """Refund entries in the ledger that answer claims, one to one, surest evidence first: an
    entry naming the claim's cloud refund request, then one that cites the claimed charge's id,
    then an entry for the same cloud job and amount
    recorded after the charge. (A claim filed with the cloud also learns its refund entry from
    the cloud itself; this is how email claims, and any the cloud did not report, are closed.)"""
    refunds = [e for e in entries if e.kind is EntryKind.REFUND and e.amount_cents > 0
               and e.id not in used_entry_ids]
    refunds.sort(key=lambda e: (e.timestamp, e.id))
    waiting = [c for c in claims
               if c.status not in (ClaimStatus.REFUNDED, ClaimStatus.WITHDRAWN)]
    tests = (
        lambda c, e: c.remote_id is not None and e.refund_request_id == c.remote_id,
        lambda c, e: c.ledger_entry_id in (e.description or ""),
        lambda c, e: (c.cloud_job_id is not None and e.job_id == c.cloud_job_id
                      and e.amount_cents == c.amount_cents and e.timestamp >= c.charged_at),
    )
    pairs: list[tuple[Claim, LedgerEntry]] = []
    for test in tests:
        for claim in list(waiting):
            entry = next((e for e in refunds if test(claim, e)), None)
            if entry is not None:
                pairs.append((claim, entry))
                waiting.remove(claim)
                refunds.remove(entry)
    return pairs
