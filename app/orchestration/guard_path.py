"""The account guard assembled from a Runtime: read the payment side, build the Books, find the
traps, file and follow the requests they need.

Run after each balance sync, on the thread that owns the runtime (the tray's monitor worker, or
the command line): it reads the freshly synced ledger. The channels and the identity are the
refund claims' (Settings: refund_channel, support address, SMTP), so one setting says how
support is reached.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from app.adapters.cloud.support import CloudBooks, CloudSupport
from app.adapters.store.guard_repo import GuardRepo
from app.adapters.store.requests_repo import RequestsRepo
from app.adapters.system.settings_file import write_atomic
from app.core.account_guard import DISPUTE_WINDOW, Books, Trap, TrapKind, find_traps, mismatch_key
from app.core.alerts import Alert
from app.core.errors import MonitorError
from app.core.money import dollars
from app.core.support_letter import SCREENSHOT_NAME, compose, entries_csv, facts_json
from app.core.support_requests import (
    OPEN,
    RequestStatus,
    SupportRequest,
    new_request,
    trap_alert,
)
from app.core.trap_line import restore_line
from app.orchestration.refund_path import RefundPath, filing_config, policy_for
from app.orchestration.request_relay import GuardPolicy, GuardReport, RequestRelay
from app.runtime import Runtime, utc_now

log = logging.getLogger(__name__)

# Payments and coupons are re-read this far back on every sync: an entry that credits one
# can arrive late, and only a fresh read of the window sees its ledger_entry_id fill in.
PAYMENT_WINDOW = timedelta(days=30)
SCREENSHOT_WAIT = timedelta(minutes=2)  # the tray app renders the balance within a second


@dataclass
class BooksRead:
    ok: bool = True
    problems: list[str] = field(default_factory=list)


class GuardPath:
    def __init__(self, runtime: Runtime, *, policy: GuardPolicy | None = None,
                 ssl_context: ssl.SSLContext | None = None, owner: str | None = None,
                 screenshots: bool = False):
        self.runtime = runtime
        self.guard = GuardRepo(runtime.db)
        self.repo = RequestsRepo(runtime.db)
        self._books = CloudBooks(runtime.cloud)
        # The mail path is the refund claims' own (SMTP settings, keyring password, TLS).
        self._mail_path = RefundPath(runtime, ssl_context=ssl_context, owner=owner)
        desk = CloudSupport(runtime.cloud)
        if policy is None:
            policy = GuardPolicy(filing=policy_for(runtime.settings),
                                 screenshot_wait=SCREENSHOT_WAIT if screenshots else timedelta(0))
        self.relay = RequestRelay(self.repo, lambda: desk, self._mail_path.mail_sender,
                                  utc_now, policy, owner=owner)

    def read_payment_side(self) -> BooksRead:
        """Payments and coupons of the recent window; a cloud without them is not an error."""
        now = utc_now()
        since = now - PAYMENT_WINDOW
        read = BooksRead()
        for what, fetch, store in (("payments", self._books.payments, self.guard.store_payments),
                                   ("coupons", self._books.coupons, self.guard.store_coupons)):
            try:
                items = fetch(since)
            except MonitorError as error:
                log.info("%s not read: %s", what, error)
                read.ok = False
                read.problems.append(f"{what} not read: {error}")
                continue
            self.guard.source(what, items is not None, now)
            if items is not None:
                store(items, since)  # type: ignore[operator]
        return read

    def books(self, now: datetime | None = None) -> Books:
        now = now or utc_now()
        state = self.runtime.cache.load_cache()
        entries = self.guard.entries_in_order(now - DISPUTE_WINDOW - timedelta(days=1))
        books = Books(account=state.account, balance_cents=state.balance_cents, entries=entries,
                      payments=self.guard.payments(), coupons=self.guard.coupons())
        behind = state.health.ledger_behind
        # The ten-minute wait starts once the history has caught up, not while it lags.
        seen = self.guard.first_seen(None if behind else mismatch_key(books), now)
        return Books(books.account, books.balance_cents, entries, books.payments,
                     books.coupons, seen, ledger_behind=behind)

    def cycle(self, *, file_now: bool = False, read: bool = True) -> GuardReport:
        """After a sync: read the payment side, find the traps, file and follow up."""
        if read:
            self.read_payment_side()
        return self.relay.cycle(self.books(), filing_config(self.runtime), file_now=file_now)

    def requests(self) -> list[SupportRequest]:
        return self.repo.requests()

    def wanting_screenshot(self) -> list[SupportRequest]:
        return self.repo.wanting_screenshot()

    def attach_screenshot(self, request_id: str, png: bytes) -> bool:
        return self.repo.attach_screenshot(request_id, png)

    def settings_changed(self) -> None:
        self.repo.reset_channels()

    def traps(self) -> list[Trap]:
        """The traps in the cached account now (no network)."""
        return find_traps(self.books(), utc_now())

    def new_notices(self, traps: Sequence[Trap], requests: Sequence[SupportRequest] = (),
                    commit: Callable[[list[Alert]], object] | None = None) -> list[Alert]:
        """Each trap and each plan reminder (its key names the 14/7/3/1-day step) told once,
        ever. A renewal drawn from credits is left out: the sync's own alert tells it.

        `commit` (the phone alerts' outbox) gets them before they are marked told, as the
        monitor's own alerts are: a crash in between tells them again on the next cycle, and
        the outbox takes that repeat as the same alert (REPEAT_WINDOW), so none is lost."""
        told = [t for t in traps if t.kind is not TrapKind.RENEWAL_FROM_CREDITS]
        untold = set(self.guard.untold([f"trap:{t.key}" for t in told]))
        by_key = {r.trap_key: r for r in requests}
        now = utc_now()
        found = [notice_for(t, by_key.get(t.key), now) for t in told
                 if f"trap:{t.key}" in untold]
        if commit is not None and found:
            commit(found)
        fresh = set(self.guard.claim_notices([a.key for a in found], now))
        return [a for a in found if a.key in fresh]

    def dispute(self) -> SupportRequest | None:
        """The balance dispute to show or save: the newest open one, or one the account
        shows now but nobody filed yet (not stored: a packet for the operator to send)."""
        open_ = [r for r in self.repo.requests(OPEN) if r.kind == TrapKind.BALANCE_DISPUTE.value]
        if open_:
            return open_[-1]
        found = [t for t in self.traps() if t.kind is TrapKind.BALANCE_DISPUTE]
        return new_request(found[0], utc_now()) if found else None

    def write_packet(self, req: SupportRequest, folder: Path,
                     screenshot: bytes | None = None) -> list[Path]:
        """The dispute packet for the operator to send: the letter, the usage entries (CSV),
        the facts (JSON) and, from the tray app, the PNG of the balance panel."""
        shot = screenshot or req.screenshot
        if shot and not req.screenshot:
            req = replace(req, screenshot=shot)
        who = filing_config(self.runtime).identity
        letter = compose(req, who)
        files = {"dispute-letter.txt": f"Subject: {letter.subject}\n\n{letter.body}".encode(),
                 "usage-entries.csv": entries_csv(req).encode(),
                 "dispute.json": facts_json(req, who).encode()}
        if shot:
            files[SCREENSHOT_NAME] = shot
        written = []
        for name, data in files.items():
            target = folder / name
            write_atomic(target, data)
            written.append(target)
        return written


def guard_alert_keys(runtime: Runtime) -> set[str]:
    """The alert keys of the traps in the cached account now (no network)."""
    return {f"trap:{t.key}" for t in GuardPath(runtime).traps()}


def notice_for(trap: Trap, req: SupportRequest | None, now: datetime) -> Alert:
    """A trap's notice; a closed account's says what was done about it (the restore request
    filed, or being filed), in the words the window and the tray use."""
    alert = trap_alert(trap)
    if trap.kind is TrapKind.ACCOUNT_RESTORE:
        done = restore_line(req, now).removeprefix("Account closed: ")
        removed = f" {dollars(trap.at_risk_cents)} in credits was removed." if (
            trap.at_risk_cents) else ""
        alert = replace(alert, title="Account closed",
                        message=f"{done[:1].upper()}{done[1:]}.{removed}")
    return alert


def request_counts(runtime: Runtime) -> dict[str, object]:
    """For `status --json`: support requests by status, without any network."""
    repo = RequestsRepo(runtime.db)
    found = repo.requests()
    return {"requests": len(found),
            "by_status": {s.value: sum(1 for r in found if r.status is s) for s in RequestStatus},
            "at_risk_cents": sum(r.at_risk_cents for r in found if r.is_open)}


def trap_json(trap: Trap) -> dict[str, object]:
    return {"kind": trap.kind.value, "key": trap.key, "title": trap.title,
            "message": trap.message, "severity": trap.severity, "files_request": trap.file,
            "at_risk_cents": trap.at_risk_cents}
