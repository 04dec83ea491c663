"""The refund relay: one cycle finds new claims, files what is due, follows up, closes refunds.

It is the outbox's sender. Claims are committed before any filing (RefundsRepo); each filing is
leased, sent, then recorded, so a crash anywhere leaves a row that the next cycle sends again:
to the cloud under the same Idempotency-Key and body (the cloud keeps one request), by email as
the same stored message with the same Message-ID (at least once; see docs/refunds.md). No Qt: the
tray's worker thread, `refunds --file-now` and the tests all run this same cycle.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from app.adapters.mail.smtp import compose as compose_mail
from app.adapters.store.refunds_repo import RefundsRepo
from app.core.alerts import Alert
from app.core.errors import MonitorError, NotConfigured
from app.core.model import EntryKind, LedgerEntry
from app.core.refund_filing import (
    OPERATOR_HINTS,
    Channel,
    FilingFailure,
    Identity,
    RefundPolicy,
    RemoteRefund,
    classify,
    cloud_request,
    filed_alert,
    problem_alert,
    refunded_alert,
    rejected_alert,
)
from app.core.refund_letter import compose as compose_letter
from app.core.refund_rules import find_claims, match_refunds, should_withdraw
from app.core.refunds import CLOUD_STATUS, OPEN, Claim, ClaimStatus, JobRecords

log = logging.getLogger(__name__)

MAX_MESSAGES_PER_CYCLE = 5


class RefundDesk(Protocol):
    def file(self, key: str, body: str) -> RemoteRefund: ...

    def get(self, remote_id: str) -> RemoteRefund: ...


class MailOut(Protocol):
    def send(self, raw: bytes, recipient: str) -> None: ...


@dataclass(frozen=True)
class FilingConfig:
    """What the current Settings say, read once per cycle."""

    channels: tuple[Channel, ...]
    identity: Identity
    support_email: str = ""
    sender: str = ""


@dataclass
class CycleReport:
    new_claims: list[Claim] = field(default_factory=list)
    notices: list[Alert] = field(default_factory=list)  # happened now: show once
    problems: list[Alert] = field(default_factory=list)  # still true: dedupe by key


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class RefundRelay:
    def __init__(self, repo: RefundsRepo, jobs: JobRecords,
                 ledger: Callable[[datetime, Sequence[EntryKind]], list[LedgerEntry]],
                 desk: Callable[[], RefundDesk] | None, mail: Callable[[], MailOut] | None,
                 clock: Callable[[], datetime], policy: RefundPolicy | None = None,
                 owner: str | None = None, rng: random.Random | None = None):
        self.repo = repo
        self._jobs = jobs
        self._ledger = ledger
        self._desk = desk
        self._mail = mail
        self._clock = clock
        self.policy = policy or RefundPolicy()
        self.owner = owner or new_owner()
        self._rng = rng or random.Random()

    def cycle(self, config: FilingConfig, *, file_now: bool = False) -> CycleReport:
        report = CycleReport()
        report.new_claims = self.detect()
        self._withdraw_delivered()
        self.repo.ensure_filings([c.value for c in config.channels], self._clock())
        if Channel.CLOUD in config.channels:
            self._file_cloud(config, report)
        if Channel.EMAIL in config.channels:
            self._file_email(config, report, force=file_now)
        self._follow_cloud(report, force=file_now)
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

    # -- the cloud ------------------------------------------------------------------------------

    def _file_cloud(self, config: FilingConfig, report: CycleReport) -> None:
        if not self._due(Channel.CLOUD) or self._desk is None:
            return
        filed: list[Claim] = []
        while True:
            taken = self.repo.take_cloud_filing(self.owner, self._clock(), self._lease())
            if taken is None:
                break
            claim, body = taken
            try:
                if not config.identity.account_email:
                    raise NotConfigured("No account email is known for refund requests.")
                if body is None:
                    body = self.repo.freeze_body(claim.id, json.dumps(
                        cloud_request(claim, config.identity), sort_keys=True))
                self.repo.record_attempt("cloud", self._clock(), "sending", claim_id=claim.id)
                remote = self._desk().file(claim.idempotency_key, body)
            except MonitorError as error:
                failure = classify(error)
                self.repo.filing_failed(claim.id, "cloud", self.owner, self._clock(), failure)
                if failure.claim_refused:
                    self._moved(report, claim.id, ClaimStatus.REJECTED,
                                resolution=f"Not accepted: {failure.message}")
                    continue
                self._channel_failed(Channel.CLOUD, failure)
                break
            done = self.repo.filing_done(claim.id, "cloud", self.owner, self._clock(), remote.id)
            if done is not None:
                filed.append(done)
            self.repo.channel_ok(Channel.CLOUD.value)
            self._apply_remote(report, claim.id, remote)
        if filed:
            report.notices.append(filed_alert(filed, Channel.CLOUD))

    def _follow_cloud(self, report: CycleReport, *, force: bool) -> None:
        if self._desk is None:
            return
        every = 0.0 if force else self.policy.follow_every.total_seconds()
        for claim in self.repo.to_follow(self._clock(), every):
            assert claim.remote_id is not None
            try:
                remote = self._desk().get(claim.remote_id)
            except MonitorError as error:
                log.info("refund follow-up paused: %s", error)
                return  # offline or refused: the next cycle asks again
            self.repo.checked(claim.id, self._clock())
            self._apply_remote(report, claim.id, remote)

    def _apply_remote(self, report: CycleReport, claim_id: str, remote: RemoteRefund) -> None:
        target = CLOUD_STATUS.get(remote.status)
        claim = self.repo.get(claim_id)
        if target is None or claim is None or claim.status is target:
            return
        changes: dict[str, object] = {}
        if remote.resolution:
            changes["resolution"] = remote.resolution
        if target is ClaimStatus.REFUNDED:
            changes.update(refund_entry_id=remote.refund_entry_id,
                           refunded_cents=remote.amount_cents,
                           refunded_at=remote.updated_at or self._clock())
        self._moved(report, claim_id, target, **changes)

    # -- email ----------------------------------------------------------------------------------

    def _file_email(self, config: FilingConfig, report: CycleReport, *, force: bool) -> None:
        if not self._due(Channel.EMAIL) or self._mail is None:
            return
        for _ in range(MAX_MESSAGES_PER_CYCLE):
            now = self._clock()
            message = self.repo.mail.take_unsent_message(self.owner, now, self._lease())
            if message is None:
                try:
                    opened = self._open_message(config, now, force)
                except MonitorError as error:
                    self._channel_failed(Channel.EMAIL, classify(error))
                    return
                if opened is None:
                    return
                message_id, recipient, raw = opened
            else:
                message_id, recipient, raw = message.message_id, message.recipient, message.raw
            try:
                self._mail().send(raw, recipient)
            except MonitorError as error:
                failure = classify(error)
                self.repo.mail.message_failed(message_id, self.owner, self._clock(), failure,
                                         maybe_sent=getattr(error, "maybe_sent", False))
                self._channel_failed(Channel.EMAIL, failure)
                return
            filed = self.repo.mail.message_sent(message_id, self.owner, self._clock())
            self.repo.channel_ok(Channel.EMAIL.value)
            if filed:
                report.notices.append(filed_alert(filed, Channel.EMAIL, recipient))

    def _open_message(self, config: FilingConfig, now: datetime, force: bool
                      ) -> tuple[str, str, bytes] | None:
        claims = self.repo.mail.unsent_email_claims(now)
        if not claims:
            return None
        oldest = min(c.created_at for c in claims)
        if not force and now - oldest < self.policy.email_delay:
            return None  # gather the event's claims into one message
        who = config.identity
        if not config.support_email or not config.sender or not who.account_email:
            raise NotConfigured("The support address, the sender address or the account email "
                                "for refund emails is not set.")
        letter = compose_letter(claims, who.account_email, who.booth_name)
        domain = config.sender.rpartition("@")[2] or "booth-credit-monitor.invalid"
        message_id = f"<refund-{uuid.uuid4().hex}@{domain}>"
        raw = compose_mail(letter, sender=config.sender, recipient=config.support_email,
                           message_id=message_id, date=now, reply_to=who.account_email)
        if not self.repo.mail.open_message(message_id, config.support_email, raw,
                                      [c.id for c in claims], self.owner, now, self._lease()):
            return None  # another process took some of them; look again next cycle
        return message_id, config.support_email, raw

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

    def _due(self, channel: Channel) -> bool:
        state = self.repo.channel_state(channel.value)
        return state.next_attempt_at is None or state.next_attempt_at <= self._clock()

    def _channel_failed(self, channel: Channel, failure: FilingFailure) -> None:
        now = self._clock()
        failures = self.repo.channel_state(channel.value).failures + 1
        if failure.retryable:
            delay = self.policy.retry.delay(failures, self._rng, failure.retry_after)
        else:
            delay = self.policy.operator_recheck.total_seconds()
        self.repo.channel_failed(channel.value, now, failure, now + timedelta(seconds=delay))
        log.warning("refund %s filing failed (%s): %s; next try in %.0f s", channel.value,
                    failure.kind, failure.message, delay)

    def _lease(self) -> float:
        return self.policy.lease.total_seconds()

    def problems(self, config: FilingConfig) -> list[Alert]:
        """Problems only the operator can fix, per selected channel, while they last."""
        found = []
        for channel in config.channels:
            state = self.repo.channel_state(channel.value)
            if state.last_error_kind in OPERATOR_HINTS:
                waiting = self.repo.waiting(channel.value)
                if waiting:
                    found.append(problem_alert(channel, state.last_error_kind or "",
                                               state.last_error or "", waiting))
        return found
