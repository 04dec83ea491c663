"""The support-request relay: one cycle turns the account guard's traps into requests, files
what is due, follows them up, and closes the ones the account shows settled.

Requests ride the shared outbox (OutboxRelay): committed before anything is sent, leased,
sent under their idempotency key with a frozen body, recorded; by email one stored message per
request, re-sent with the same Message-ID after a crash. No Qt.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.adapters.store.requests_repo import RequestsRepo
from app.core.account_guard import Books, Trap, find_traps, mismatch_key
from app.core.alerts import Alert
from app.core.errors import MonitorError
from app.core.refund_filing import OPERATOR_HINTS, Channel, FilingFailure, RefundPolicy
from app.core.refund_letter import Letter
from app.core.support_letter import cloud_request, compose
from app.core.support_requests import (
    CLOUD_STATUS,
    OPEN,
    RemoteRequest,
    RequestStatus,
    SupportRequest,
    filed_alert,
    new_request,
    problem_alert,
    reconcile,
    settled_alert,
    to_file,
)
from app.orchestration.outbox_relay import CycleReport, Desk, FilingConfig, MailOut, OutboxRelay

log = logging.getLogger(__name__)

HINTS = {**OPERATOR_HINTS, "not_offered": "Choose email for requests to support in Settings."}


@dataclass(frozen=True)
class GuardPolicy:
    filing: RefundPolicy = field(default_factory=RefundPolicy)
    # A dispute waits this long for the tray app's screenshot of the balance; the command line
    # has none to give, so it files at once (0).
    screenshot_wait: timedelta = timedelta(0)


@dataclass
class GuardReport(CycleReport):
    traps: list[Trap] = field(default_factory=list)


def filed_notice(items: Sequence[SupportRequest], channel: Channel, to: str = "") -> Alert:
    """"Support asked": the requests one filing (a cloud pass, one email) made 'filed'."""
    return filed_alert(items, f"by email to {to}" if channel is Channel.EMAIL
                       else "with the cloud")


class RequestRelay(OutboxRelay[SupportRequest]):
    mail_kind = "support"

    def __init__(self, repo: RequestsRepo, desk: Callable[[], Desk] | None,
                 mail: Callable[[], MailOut] | None, clock: Callable[[], datetime],
                 policy: GuardPolicy | None = None, owner: str | None = None,
                 rng: random.Random | None = None):
        self.guard = policy or GuardPolicy()
        super().__init__(repo, repo.mail, desk, mail, clock, self.guard.filing, owner, rng)
        self.repo = repo

    def cycle(self, books: Books, config: FilingConfig, *, file_now: bool = False
              ) -> GuardReport:
        report = GuardReport()
        now = self._clock()
        agrees = mismatch_key(books) is None
        # While an entry is on its way, a deduction may look unexplained: not even shown.
        report.traps = [t for t in find_traps(books, now)
                        if agrees or not t.key.startswith(("deduction:", "chain:"))]
        report.new_claims = self.detect(report.traps, now, ledger_agrees=agrees)
        self._settle(report, books)
        self.repo.ensure_filings([c.value for c in config.channels], now)
        if Channel.CLOUD in config.channels:
            self.file_cloud(config, report)
        if Channel.EMAIL in config.channels:
            self.file_email(config, report, force=file_now)
        self.follow_cloud(report, force=file_now)
        self._settle(report, books)  # a remote answer or the ledger may settle one now
        report.problems = self.problems(config)
        return report

    def detect(self, traps: Sequence[Trap], now: datetime, *, ledger_agrees: bool = True
               ) -> list[SupportRequest]:
        new = to_file(traps, self.repo.trap_keys(), self.repo.trap_keys(OPEN),
                      ledger_agrees=ledger_agrees)
        added = self.repo.add(new_request(t, now, hold=self.guard.screenshot_wait) for t in new)
        for req in added:
            log.info("support request %s: %s (%s)", req.id, req.kind, req.trap_key)
        return added

    def _settle(self, report: GuardReport, books: Books) -> None:
        waiting = self.repo.requests([*OPEN, RequestStatus.REJECTED])
        for done in reconcile(waiting, books, self.repo.attempted_ids()):
            self._moved(report, done.request_id, done.status, resolution=done.resolution,
                        credited_entry_id=done.credited_entry_id)

    # -- what the shared relay asks -------------------------------------------------------------

    def cloud_body(self, item: SupportRequest, config: FilingConfig) -> str:
        return json.dumps(cloud_request(item, config.identity), sort_keys=True)

    def refused(self, report: CycleReport, item_id: str, failure: FilingFailure) -> None:
        self._moved(report, item_id, RequestStatus.REJECTED,
                    resolution=f"Not accepted: {failure.message}")

    def apply_remote(self, report: CycleReport, item_id: str, remote: RemoteRequest) -> None:
        target = CLOUD_STATUS.get(remote.status)
        req = self.repo.get(item_id)
        if target is None or req is None or req.status is target:
            return
        changes: dict[str, object] = {}
        if remote.resolution:
            changes["resolution"] = remote.resolution
        if remote.credited_entry_id:
            changes["credited_entry_id"] = remote.credited_entry_id
        self._moved(report, item_id, target, **changes)

    def failure(self, error: MonitorError) -> FilingFailure:
        found = super().failure(error)
        if found.kind == "not_offered":
            return FilingFailure("not_offered", "This cloud takes no support requests.", False)
        return found

    def filed_notice(self, items: Sequence[SupportRequest], channel: Channel,
                     to: str = "") -> Alert:
        return filed_notice(items, channel, to)

    def mail_batch(self, items: list[SupportRequest], now: datetime, force: bool
                   ) -> list[SupportRequest]:
        return items[:1]  # each request is its own letter: support routes them separately

    def letter(self, items: Sequence[SupportRequest], config: FilingConfig) -> Letter:
        return compose(items[0], config.identity)

    def problem_alert(self, channel: Channel, state_kind: str, message: str,
                      waiting: int) -> Alert:
        return problem_alert(channel.value, state_kind, message, waiting,
                             HINTS.get(state_kind, "It is retried on its own."))

    # -- bookkeeping ----------------------------------------------------------------------------

    def _moved(self, report: CycleReport, request_id: str, to: RequestStatus,
               **changes: object) -> None:
        moved = self.repo.move(request_id, to, self._clock(), **changes)
        if moved is None:
            return  # another process moved it first, and told the operator
        log.info("support request %s is now %s", request_id, to.value)
        if to in (RequestStatus.RESOLVED, RequestStatus.REJECTED):
            report.notices.append(settled_alert(moved))
