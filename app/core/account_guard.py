"""The money traps of the vendor's support article, found in what the cloud reports.

Each rule reads the account, the synced usage history, the payments and the coupons, and says
what happened in operator words plus the facts support asks for. A trap that needs support
(`file=True`) becomes one request through the durable outbox, keyed so that however often the
rules run, one request exists per trap. Pure: no clock, no network, no store.

Why ten minutes: the article says a purchase or a coupon bonus that has not reached the
balance after 10 minutes needs support; before that it is an ordinary sync delay.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from app.core.model import Account, AccountStatus, EntryKind, LedgerEntry, PaymentMethod, Plan
from app.core.money import dollars
from app.core.status import iso

ARRIVAL_GRACE = timedelta(minutes=10)
REMINDER_DAYS = (14, 7, 3, 1)
# A discrepancy between the balance and the newest ledger entry is often the balance being a
# step ahead of a ledger page not synced yet: it must last this long before it is a dispute.
MISMATCH_GRACE = timedelta(minutes=10)
DISPUTE_WINDOW = timedelta(days=30)  # older unexplained entries are history, not news
# What a renewal costs when the cloud does not say (the vendor's published plan prices).
PLAN_PRICES = {Plan.BASIC: 5000, Plan.PRO: 10000}


class TrapKind(str, enum.Enum):
    MISSING_PURCHASE = "missing_purchase"
    MISSING_COUPON_BONUS = "missing_coupon_bonus"
    BALANCE_DISPUTE = "balance_dispute"
    ACCOUNT_RESTORE = "account_restore"
    RENEWAL_FROM_CREDITS = "renewal_from_credits"  # explained; nothing to file
    PLAN_ENDING = "plan_ending"  # a reminder; nothing to file yet


@dataclass(frozen=True)
class Payment:
    """A payment as the payment side saw it (the contract's /v1/payments)."""

    receipt: str
    amount_cents: int
    at: datetime
    outcome: str  # succeeded | failed | pending (other words: not a succeeded payment)
    ledger_entry_id: str | None = None  # the entry that credited it, once one has


@dataclass(frozen=True)
class CouponUse:
    """A coupon applied to the subscription (the contract's /v1/coupons)."""

    code: str
    applied_at: datetime
    bonus_cents: int  # the promised bonus credits (0: a discount-only code)
    ledger_entry_id: str | None = None  # the entry that granted the bonus, once one has


@dataclass(frozen=True)
class Trap:
    kind: TrapKind
    key: str  # one request per key, ever
    title: str
    message: str
    severity: str = "warning"
    file: bool = False  # becomes a support request
    at_risk_cents: int = 0
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Books:
    """What the rules read."""

    account: Account | None
    balance_cents: int | None
    entries: Sequence[LedgerEntry]  # the synced usage history in the cloud's order
    payments: Sequence[Payment] = ()
    coupons: Sequence[CouponUse] = ()
    # When each balance/ledger mismatch was first seen (the caller remembers it).
    first_seen: Mapping[str, datetime] = field(default_factory=dict)
    # The cloud's balance names an entry the synced history lacks (SyncHealth.ledger_behind):
    # a mismatch then is the history lagging, known for sure, not a dispute however long.
    ledger_behind: bool = False


def find_traps(books: Books, now: datetime) -> list[Trap]:
    email = books.account.email if books.account else ""
    traps = [*_missing_purchases(books, now, email), *_missing_bonuses(books, now, email),
             *_chain_breaks(books, now, email), *_deductions(books, now, email),
             *_plan(books, now, email)]
    mismatch = _balance_mismatch(books, now, email)
    if mismatch is not None:
        traps.append(mismatch)
    return traps


def mismatch_key(books: Books) -> str | None:
    """The key under which a balance that disagrees with the newest entry is remembered
    (the caller records when it first saw it), or None when they agree."""
    newest = books.entries[-1] if books.entries else None
    if newest is None or books.balance_cents is None:
        return None
    if books.balance_cents == newest.balance_after_cents:
        return None
    return f"balance:{newest.id}:{books.balance_cents}"


# -- purchases and coupons -------------------------------------------------------------------


def _missing_purchases(books: Books, now: datetime, email: str) -> list[Trap]:
    credited = {e.receipt for e in books.entries if e.kind is EntryKind.PURCHASE and e.receipt}
    out = []
    for pay in books.payments:
        if pay.outcome != "succeeded" or pay.ledger_entry_id or pay.receipt in credited:
            continue
        if now - pay.at < ARRIVAL_GRACE:
            continue  # an ordinary sync delay, as the article says
        out.append(Trap(
            TrapKind.MISSING_PURCHASE, f"missing_purchase:{pay.receipt}",
            "Purchase not credited",
            f"The {dollars(pay.amount_cents)} purchase of {_local(pay.at)} (receipt "
            f"{pay.receipt}) was paid but has not reached the balance after 10 minutes. "
            "A request to support is filed with the receipt and the account email.",
            severity="critical", file=True, at_risk_cents=pay.amount_cents,
            facts={"account_email": email, "receipt": pay.receipt,
                   "amount_cents": pay.amount_cents, "paid_at": iso(pay.at)}))
    return out


def _missing_bonuses(books: Books, now: datetime, email: str) -> list[Trap]:
    granted = {(e.coupon_code or "").lower() for e in books.entries
               if e.kind is EntryKind.COUPON_BONUS}
    out = []
    for use in books.coupons:
        if use.bonus_cents <= 0 or use.ledger_entry_id or use.code.lower() in granted:
            continue
        if now - use.applied_at < ARRIVAL_GRACE:
            continue
        out.append(Trap(
            TrapKind.MISSING_COUPON_BONUS, f"missing_coupon_bonus:{use.code.lower()}:"
            f"{iso(use.applied_at)}", "Coupon bonus not activated",
            f"The {dollars(use.bonus_cents)} bonus of coupon {use.code} (applied "
            f"{_local(use.applied_at)}) has not arrived; it needs a manual activation by the "
            "vendor. A request is filed with the coupon code and the subscription date.",
            file=True, at_risk_cents=use.bonus_cents,
            facts={"account_email": email, "coupon_code": use.code,
                   "subscription_date": iso(use.applied_at),
                   "bonus_cents": use.bonus_cents}))
    return out


# -- the ledger itself ------------------------------------------------------------------------


def _chain_breaks(books: Books, now: datetime, email: str) -> list[Trap]:
    """An entry whose balance-after is not the previous balance plus its amount."""
    out = []
    for before, entry in pairwise(books.entries):
        expected = before.balance_after_cents + entry.amount_cents
        if entry.balance_after_cents == expected or now - entry.timestamp > DISPUTE_WINDOW:
            continue
        out.append(_dispute(
            f"chain:{entry.id}", email, now, expected, entry.balance_after_cents,
            [before, entry],
            f"The usage history does not add up at {_local(entry.timestamp)}: after "
            f"{dollars(before.balance_after_cents)} and a {dollars(entry.amount_cents)} "
            f"entry the balance should be {dollars(expected)}, the cloud says "
            f"{dollars(entry.balance_after_cents)}."))
    return out


def _balance_mismatch(books: Books, now: datetime, email: str) -> Trap | None:
    key = mismatch_key(books)
    if key is None or books.balance_cents is None or books.ledger_behind:
        return None
    seen = books.first_seen.get(key)
    if seen is None or now - seen < MISMATCH_GRACE:
        return None  # most likely a ledger page still to come: the next sync decides
    newest = books.entries[-1]
    return _dispute(
        key, email, now, newest.balance_after_cents, books.balance_cents, list(books.entries[-5:]),
        f"The balance ({dollars(books.balance_cents)}) has not matched the usage history "
        f"({dollars(newest.balance_after_cents)} after its newest entry) since "
        f"{_local(seen)}.")


def _deductions(books: Books, now: datetime, email: str) -> list[Trap]:
    """Deductions without AI use: a renewal drawn from credits is explained; a renewal of
    the wrong size, or an adjustment nothing in the account explains, is disputed."""
    out = []
    price = PLAN_PRICES.get(books.account.plan) if books.account else None
    credits_pay = books.account is not None and (
        books.account.primary_payment_method is PaymentMethod.CREDITS)
    given_back = _given_back(books.entries)
    for entry in books.entries:
        if entry.amount_cents >= 0 or now - entry.timestamp > DISPUTE_WINDOW:
            continue
        if entry.id in given_back:
            continue  # support gave it back: settled
        if entry.kind in (EntryKind.AI_RUN, EntryKind.SMS):
            continue  # usage explains it (a failed run is the refund rules' business)
        if _closure_removal(books, entry):
            continue  # the closed account explains it: that is the restore request's business
        renewal = entry.kind is EntryKind.SUBSCRIPTION_RENEWAL
        if renewal and (price is None or -entry.amount_cents == price):
            out.append(Trap(
                TrapKind.RENEWAL_FROM_CREDITS, f"renewal_from_credits:{entry.id}",
                "Renewal paid from credits",
                f"{dollars(-entry.amount_cents)} for the plan's renewal on "
                f"{_local(entry.timestamp)} came out of the AI credits"
                + (" because credits are the primary payment method" if credits_pay else "")
                + ". In the dashboard, Billing > Payment Methods: make the card primary to "
                "keep credits for AI.", severity="info"))
            continue
        before = entry.balance_after_cents - entry.amount_cents
        what = "a renewal of an unexpected size" if renewal else "an adjustment"
        out.append(_dispute(
            f"deduction:{entry.id}", email, now, before, entry.balance_after_cents, [entry],
            f"{dollars(-entry.amount_cents)} was taken on {_local(entry.timestamp)} as {what}, "
            "without any AI use, purchase or renewal that explains it."))
    return out


def _dispute(key: str, email: str, now: datetime, expected: int, actual: int,
             entries: Sequence[LedgerEntry], message: str) -> Trap:
    return Trap(
        TrapKind.BALANCE_DISPUTE, key, "Balance does not add up",
        f"{message} A dispute is filed with the usage entries; support can restore credits "
        "taken in error.", severity="critical", file=True,
        at_risk_cents=max(0, expected - actual),
        facts={"account_email": email, "expected_cents": expected, "actual_cents": actual,
               "noticed_at": iso(now),
               "entries": [{"id": e.id, "timestamp": iso(e.timestamp), "kind": e.kind.value,
                            "amount_cents": e.amount_cents,
                            "balance_after_cents": e.balance_after_cents} for e in entries]})


# -- the plan ------------------------------------------------------------------------------------


def _plan(books: Books, now: datetime, email: str) -> list[Trap]:
    acct = books.account
    if acct is None:
        return []
    credits = books.balance_cents or 0
    if acct.status is AccountStatus.CLOSED:
        removed = [e for e in books.entries if _closure_removal(books, e)]
        credits = -removed[-1].amount_cents if removed and not credits else credits
        return [Trap(
            TrapKind.ACCOUNT_RESTORE, f"account_restore:{email}", "Account closed",
            f"The account was closed and its credits ({dollars(credits)} before) removed. The "
            "monitor files a restore request: support can often reopen it under "
            "Pay-As-You-Go if asked within days.", severity="critical", file=True,
            at_risk_cents=credits,
            facts={"account_email": email, "credits_before_cents": credits,
                   "grace_ended_at": iso(acct.grace_ends_at), "noticed_at": iso(now)})]
    # The end that matters: a plan that will not renew ends at expires_at; a lapsed one at
    # the end of its 30-day grace period, when the account and the credits go.
    if acct.status in (AccountStatus.EXPIRED, AccountStatus.SUSPENDED):
        end, what = acct.grace_ends_at, "the grace period ends and the account closes"
    elif acct.status is AccountStatus.ACTIVE and acct.renews_at is None and acct.expires_at:
        end, what = acct.expires_at, "the plan expires (it will not renew)"
    else:
        return []
    if end is None or end <= now:
        return []
    days = (end - now).total_seconds() / 86400
    due = [d for d in REMINDER_DAYS if days <= d]
    if not due:
        return []
    step = min(due)
    left = f"{int(days)} day{'s' if int(days) != 1 else ''}" if days >= 1 else "less than a day"
    return [Trap(
        TrapKind.PLAN_ENDING, f"plan_ending:{step}:{iso(end)}", f"{left.capitalize()} left",
        f"In {left} ({_local(end)}) {what}. {dollars(credits)} in credits is at risk: a "
        "downgrade to Pay-As-You-Go keeps the credits and the account.",
        severity="critical" if step <= 3 else "warning", at_risk_cents=credits,
        facts={"ends_at": iso(end), "days_left": round(days, 1)})]


def _given_back(entries: Sequence[LedgerEntry]) -> set[str]:
    """Deductions (not usage) that a later credit of the same amount gave back, one each."""
    open_: list[LedgerEntry] = []
    back: set[str] = set()
    for entry in entries:
        if entry.amount_cents < 0 and entry.kind not in (EntryKind.AI_RUN, EntryKind.SMS):
            open_.append(entry)
        elif entry.amount_cents > 0 and entry.kind in (EntryKind.ADJUSTMENT, EntryKind.REFUND):
            match = next((d for d in open_ if -d.amount_cents == entry.amount_cents), None)
            if match is not None:
                open_.remove(match)
                back.add(match.id)
    return back


def _closure_removal(books: Books, entry: LedgerEntry) -> bool:
    """The entry that took every credit when the account closed: a deduction to zero on a
    closed account, no earlier than a day before its grace period ended."""
    acct = books.account
    if acct is None or acct.status is not AccountStatus.CLOSED:
        return False
    if entry.kind is not EntryKind.ADJUSTMENT or entry.amount_cents >= 0:
        return False
    ended = acct.grace_ends_at
    return entry.balance_after_cents == 0 and (
        ended is None or entry.timestamp >= ended - timedelta(days=1))


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%d %b %H:%M")
