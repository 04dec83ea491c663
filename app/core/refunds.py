"""Refund claims: what a claim is, how it moves through its life, and the end-of-event summary.

A claim names one ledger deduction that bought nothing (a charged job that failed, was given up,
or was charged twice). It is written durably, with its filing idempotency key made once here,
before anything is sent; after that it only moves forward:

    pending ──► filed ──► acknowledged ──► refunded
       │          └──────────┴──────────► rejected
       └─► withdrawn (the job delivered its result after all, before anything was filed)

Detection rules live in app.core.refund_rules, the letter to support in app.core.refund_letter,
filing decisions in app.core.refund_filing.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from app.core.money import dollars
from app.core.status import iso


class ClaimStatus(str, enum.Enum):
    PENDING = "pending"  # committed locally, not yet accepted by any channel
    FILED = "filed"  # the cloud stored it, or the mail server accepted the message
    ACKNOWLEDGED = "acknowledged"  # the cloud is reviewing it
    REFUNDED = "refunded"  # a refund entry for it is in the ledger
    REJECTED = "rejected"  # support (or the cloud) said no; the resolution says why
    WITHDRAWN = "withdrawn"  # the job delivered its result before the claim was filed


OPEN = frozenset({ClaimStatus.PENDING, ClaimStatus.FILED, ClaimStatus.ACKNOWLEDGED})
_S = ClaimStatus
TRANSITIONS: dict[ClaimStatus, frozenset[ClaimStatus]] = {
    _S.PENDING: frozenset({_S.FILED, _S.ACKNOWLEDGED, _S.REFUNDED, _S.REJECTED, _S.WITHDRAWN}),
    _S.FILED: frozenset({_S.ACKNOWLEDGED, _S.REFUNDED, _S.REJECTED}),
    _S.ACKNOWLEDGED: frozenset({_S.REFUNDED, _S.REJECTED}),
    # Support can change its mind; the ledger is the proof, so a refund entry wins.
    _S.REJECTED: frozenset({_S.REFUNDED}),
    _S.REFUNDED: frozenset(),
    _S.WITHDRAWN: frozenset(),
}


def can_move(current: ClaimStatus, target: ClaimStatus) -> bool:
    return target in TRANSITIONS[current]


# The cloud's refund-request statuses (docs/cloud-api.md, refund lifecycle) in our words.
CLOUD_STATUS = {
    "received": ClaimStatus.FILED,
    "under_review": ClaimStatus.ACKNOWLEDGED,
    "refunded": ClaimStatus.REFUNDED,
    "rejected": ClaimStatus.REJECTED,
}


class Rule(str, enum.Enum):
    FAILED_AFTER_CHARGE = "failed_after_charge"  # the ledger names the job; the job failed
    NO_RESULT = "no_result"  # charged, but the booth gave up and never received the result
    DUPLICATE_CHARGE = "duplicate_charge"  # a second deduction for one job (one key)
    TIME_WINDOW = "time_window"  # the ledger gave no job id: matched by feature and time


class Ending(str, enum.Enum):
    """How a booth job ended, as far as refunds care."""

    DELIVERED = "delivered"  # its result was saved: its (first) charge is never claimed
    FAILED = "failed"
    GIVEN_UP = "given_up"
    REMOVED = "removed"  # the operator took it off the queue while it was still open
    OPEN = "open"  # may still deliver


@dataclass(frozen=True)
class JobOutcome:
    """One booth job as the refund rules see it (read from the job queue by an adapter)."""

    job_id: str
    feature: str
    ending: Ending
    idempotency_key: str
    created_at: datetime
    cloud_job_id: str | None = None
    submitted_at: datetime | None = None  # the first upload started
    ended_at: datetime | None = None  # when it failed or was given up
    charged_cents: int | None = None  # what the cloud said it charged, if it said
    error: str | None = None  # the last error the booth saw
    photo: str | None = None  # the photo's file name, so a claim can be matched to a guest


class JobRecords(Protocol):
    """The port to the job queue: every job created since a moment, and one job by id."""

    def outcomes_since(self, since: datetime) -> list[JobOutcome]: ...

    def outcome(self, job_id: str) -> JobOutcome | None: ...


def new_claim_id() -> str:
    return f"rc-{uuid.uuid4().hex[:12]}"


def new_refund_key() -> str:
    # Random, made once with the claim: a re-send after a crash reuses it, so the cloud stores
    # one request however often it is sent. Not derived from the entry id: if the local file
    # were lost, a re-detected claim gets a new key and the cloud answers duplicate_claim,
    # which is handled, instead of a key clash on a slightly different body, which is not.
    return f"bcm-refund-{uuid.uuid4()}"


@dataclass(frozen=True)
class Claim:
    id: str
    ledger_entry_id: str
    rule: Rule
    feature: str
    amount_cents: int  # positive: what we ask back
    charged_at: datetime  # the ledger entry's timestamp
    reason: str
    idempotency_key: str
    created_at: datetime
    status: ClaimStatus = ClaimStatus.PENDING
    job_id: str | None = None  # the booth's job id
    cloud_job_id: str | None = None
    job_key: str | None = None  # the job's idempotency key
    submitted_at: datetime | None = None
    failed_at: datetime | None = None
    error: str | None = None
    hold_until: datetime | None = None  # not filed before this (a given-up job may be retried)
    updated_at: datetime | None = None
    filed_at: datetime | None = None
    channel: str | None = None  # cloud | email | cloud+email
    remote_id: str | None = None  # the cloud's refund request id
    resolution: str | None = None
    refund_entry_id: str | None = None
    refunded_cents: int | None = None
    refunded_at: datetime | None = None
    photo: str | None = None  # the photo's file name (the guest's picture)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


# Field order of `refunds --json`, the CSV export and the attachments.
FIELDS = ("id", "photo", "job_id", "feature", "amount_cents", "submitted_at", "charged_at",
          "failed_at", "filed_at", "channel", "status", "ledger_entry_id", "cloud_job_id",
          "job_key", "rule", "error", "remote_id", "resolution", "refund_entry_id",
          "refunded_cents", "refunded_at")


def claim_json(claim: Claim) -> dict[str, Any]:
    doc = {name: getattr(claim, name) for name in FIELDS}
    for name, value in doc.items():
        if isinstance(value, datetime):
            doc[name] = iso(value)
        elif isinstance(value, enum.Enum):
            doc[name] = value.value
    return doc


@dataclass(frozen=True)
class RefundSummary:
    """What the event's refunds came to: "3 failed jobs, $4.50 claimed, $3.00 refunded"."""

    failed_jobs: int = 0
    double_charges: int = 0
    claimed_cents: int = 0
    refunded_cents: int = 0
    by_status: tuple[tuple[str, int], ...] = ()

    def count(self, status: ClaimStatus) -> int:
        return dict(self.by_status).get(status.value, 0)

    @property
    def claims(self) -> int:
        return sum(n for _, n in self.by_status)

    def text(self) -> str:
        if not self.claims:
            return "No refund claims."
        parts = [_plural(self.failed_jobs, "failed job")] if self.failed_jobs else []
        if self.double_charges:
            parts.append(_plural(self.double_charges, "double charge"))
        parts += [f"{dollars(self.claimed_cents)} claimed", f"{dollars(self.refunded_cents)} "
                  "refunded"]
        waiting = self.count(ClaimStatus.PENDING)
        if waiting:
            parts.append(f"{waiting} not yet filed")
        rejected = self.count(ClaimStatus.REJECTED)
        if rejected:
            parts.append(f"{rejected} rejected")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "claims": self.claims, "failed_jobs": self.failed_jobs,
            "double_charges": self.double_charges, "claimed_cents": self.claimed_cents,
            "refunded_cents": self.refunded_cents,
            "by_status": {s.value: self.count(s) for s in ClaimStatus},
            "summary": self.text(),
        }


def summarize(claims: Iterable[Claim], since: datetime | None = None) -> RefundSummary:
    """Withdrawn claims asked for nothing and count only in by_status."""
    counts = {s.value: 0 for s in ClaimStatus}
    jobs: set[str] = set()
    doubles = claimed = refunded = 0
    for claim in claims:
        if since is not None and claim.charged_at < since:
            continue
        counts[claim.status.value] += 1
        if claim.status is ClaimStatus.WITHDRAWN:
            continue
        claimed += claim.amount_cents
        refunded += claim.refunded_cents or 0
        if claim.rule is Rule.DUPLICATE_CHARGE:
            doubles += 1
        else:
            jobs.add(claim.job_id or claim.ledger_entry_id)
    return RefundSummary(len(jobs), doubles, claimed, refunded,
                         tuple((k, v) for k, v in counts.items() if v))


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
