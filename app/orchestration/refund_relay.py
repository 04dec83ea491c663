"""The refund relay: one cycle finds new claims, files what is due, follows up, closes refunds.

It is the refund outbox's sender (the filing, the follow-up and the channel health are the
shared OutboxRelay's, app/orchestration/outbox_relay.py). Claims are committed before any
filing (RefundsRepo); a crash anywhere leaves a row that the next cycle sends again: to the
cloud under the same Idempotency-Key and body, by email as the same stored message with the
same Message-ID (see docs/refunds.md). No Qt: the tray's worker thread, `refunds --file-now`
and the tests all run this same cycle.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Sequence
from datetime import datetime

from app.adapters.store.refunds_repo import RefundsRepo
from app.core.alerts import Alert
from app.core.model import EntryKind, LedgerEntry
from app.core.refund_filing import (
    Channel,
    FilingFailure,
    RefundPolicy,
    RemoteRefund,
    cloud_request,
    filed_alert,
    problem_alert,
    refunded_alert,
    rejected_alert,
)
from app.core.refund_letter import Letter
from app.core.refund_letter import compose as compose_letter
from app.core.refund_rules import find_claims, match_refunds, should_withdraw
from app.core.refunds import CLOUD_STATUS, OPEN, Claim, ClaimStatus, JobRecords
from app.orchestration.outbox_relay import (
    CycleReport,
    Desk,
    FilingConfig,
    MailOut,
    OutboxRelay,
    new_owner,
)

log = logging.getLogger(__name__)

__all__ = ["CycleReport", "FilingConfig", "MailOut", "RefundDesk", "RefundRelay", "new_owner"]

RefundDesk = Desk  # files RemoteRefund answers (app.adapters.cloud.refunds)


class RefundRelay(OutboxRelay[Claim]):
    mail_kind = "refund"

    def __init__(self, repo: RefundsRepo, jobs: JobRecords,
                 ledger: Callable[[datetime, Sequence[EntryKind]], list[LedgerEntry]],
                 desk: Callable[[], Desk] | None, mail: Callable[[], MailOut] | None,
                 clock: Callable[[], datetime], policy: RefundPolicy | None = None,
                 owner: str | None = None, rng: random.Random | None = None):
        super().__init__(repo, repo.mail, desk, mail, clock, policy, owner, rng)
        self.repo = repo
        self._jobs = jobs
        self._ledger = ledger

    def cycle(self, config: FilingConfig, *, file_now: bool = False) -> CycleReport:
        report = CycleReport()
        report.new_claims = self.detect()
        self._withdraw_delivered()
        self.repo.ensure_filings([c.value for c in config.channels], self._clock())
        if Channel.CLOUD in config.channels:
            self.file_cloud(config, report)
        if Channel.EMAIL in config.channels:
            self.file_email(config, report, force=file_now)
        self.follow_cloud(report, force=file_now)
        self._match_ledger(report)
        report.problems = self.problems(config)
        return report

    # -- detection ------------------------------------------------------------------------------

    def detect(self) -> list[Claim]:
        now = self._clock()
        since = now - self.policy.lookback
        jobs = self._jobs.outcomes_since(since)
        if not jobs:
            return []
        charges = self._ledger(since - self.policy.rules.clock_skew, (EntryKind.AI_RUN,))
        found = find_claims(jobs, charges, self.repo.claimed_entry_ids(), now, self.policy.rules)
        added = self.repo.add(found)
        for claim in added:
            log.info("refund claim %s: %s %s cents for job %s (%s)", claim.id, claim.feature,
                     claim.amount_cents, claim.job_id, claim.rule.value)
        return added

    def _withdraw_delivered(self) -> None:
        for claim in self.repo.claims([ClaimStatus.PENDING]):
            job = self._jobs.outcome(claim.job_id) if claim.job_id else None
            if should_withdraw(claim, job):
                self.repo.move(claim.id, ClaimStatus.WITHDRAWN, self._clock(),
                               resolution="The job delivered its result after all; nothing "
                               "to claim.")

    # -- what the shared relay asks -------------------------------------------------------------

    def cloud_body(self, item: Claim, config: FilingConfig) -> str:
        return json.dumps(cloud_request(item, config.identity), sort_keys=True)

    def refused(self, report: CycleReport, item_id: str, failure: FilingFailure) -> None:
        self._moved(report, item_id, ClaimStatus.REJECTED,
                    resolution=f"Not accepted: {failure.message}")

    def apply_remote(self, report: CycleReport, item_id: str, remote: RemoteRefund) -> None:
        target = CLOUD_STATUS.get(remote.status)
        claim = self.repo.get(item_id)
        if target is None or claim is None or claim.status is target:
            return
        changes: dict[str, object] = {}
        if remote.resolution:
            changes["resolution"] = remote.resolution
        if target is ClaimStatus.REFUNDED:
            changes.update(refund_entry_id=remote.refund_entry_id,
                           refunded_cents=remote.amount_cents,
                           refunded_at=remote.updated_at or self._clock())
        self._moved(report, item_id, target, **changes)

    def filed_notice(self, items: Sequence[Claim], channel: Channel, to: str = "") -> Alert:
        return filed_alert(items, channel, to)

    def mail_batch(self, items: list[Claim], now: datetime, force: bool) -> list[Claim]:
        if not items:
            return []
        oldest = min(c.created_at for c in items)
        if not force and now - oldest < self.policy.email_delay:
            return []  # gather the event's claims into one message
        return items

    def letter(self, items: Sequence[Claim], config: FilingConfig) -> Letter:
        who = config.identity
        return compose_letter(items, who.account_email, who.booth_name)

    def problem_alert(self, channel: Channel, state_kind: str, message: str,
                      waiting: int) -> Alert:
        return problem_alert(channel, state_kind, message, waiting)

    # -- the ledger ------------------------------------------------------------------------------

    def _match_ledger(self, report: CycleReport) -> None:
        since = self._clock() - self.policy.lookback
        waiting = self.repo.claims([*OPEN, ClaimStatus.REJECTED])
        if not waiting:
            return
        refunds = self._ledger(since, (EntryKind.REFUND,))
        for claim, entry in match_refunds(waiting, refunds, self.repo.used_refund_entry_ids()):
            self._moved(report, claim.id, ClaimStatus.REFUNDED, refund_entry_id=entry.id,
                        refunded_cents=entry.amount_cents, refunded_at=entry.timestamp)

    # -- bookkeeping ------------------------------------------------------------------------------

    def _moved(self, report: CycleReport, claim_id: str, to: ClaimStatus,
               **changes: object) -> None:
        moved = self.repo.move(claim_id, to, self._clock(), **changes)
        if moved is None:
            return  # another process moved it first, and told the operator
        log.info("refund claim %s is now %s", claim_id, to.value)
        if to is ClaimStatus.REFUNDED:
            report.notices.append(refunded_alert(moved))
        elif to is ClaimStatus.REJECTED:
            report.notices.append(rejected_alert(moved))
