"""The money traps of the support article, rule by rule, at their edges."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from app.core.account_guard import (
    Books,
    CouponUse,
    Payment,
    TrapKind,
    find_traps,
    mismatch_key,
)
from app.core.model import Account, AccountStatus, EntryKind, LedgerEntry, PaymentMethod, Plan

NOW = datetime(2026, 12, 3, 20, 0, tzinfo=timezone.utc)
ACCOUNT = Account("op@booth.test", Plan.BASIC, AccountStatus.ACTIVE, PaymentMethod.CARD,
                  NOW + timedelta(days=20), None, None)
K = TrapKind


def entry(n: int, kind: EntryKind, amount: int, after: int, minutes_ago: float = 60,
          **extra) -> LedgerEntry:
    return LedgerEntry(f"le_{n}", NOW - timedelta(minutes=minutes_ago), kind, amount, after,
                       **extra)


HISTORY = [entry(1, EntryKind.PURCHASE, 10000, 10000, 300, receipt="rcpt_old"),
           entry(2, EntryKind.AI_RUN, -150, 9850, 120, feature="draw_me"),
           entry(3, EntryKind.AI_RUN, -25, 9825, 90, feature="background_removal")]


def books(**changes) -> Books:
    base = Books(account=ACCOUNT, balance_cents=9825, entries=HISTORY)
    return replace(base, **changes)


def kinds(b: Books, now: datetime = NOW) -> list[TrapKind]:
    return [t.kind for t in find_traps(b, now)]


def test_a_clean_account_has_no_traps():
    assert find_traps(books(), NOW) == []


@pytest.mark.parametrize(("age", "trapped"), [(timedelta(minutes=9, seconds=59), False),
                                              (timedelta(minutes=10), True)])
def test_a_paid_purchase_missing_from_the_ledger_is_filed_after_ten_minutes(age, trapped):
    paid = Payment("rcpt_new", 5000, NOW - age, "succeeded")
    traps = find_traps(books(payments=[paid]), NOW)
    assert [t.kind for t in traps] == ([K.MISSING_PURCHASE] if trapped else [])
    if trapped:
        trap = traps[0]
        assert trap.file and trap.key == "missing_purchase:rcpt_new"
        assert trap.facts == {"account_email": "op@booth.test", "receipt": "rcpt_new",
                              "amount_cents": 5000, "paid_at": "2026-12-03T19:50:00Z"}


def test_a_purchase_credited_late_through_the_cursor_is_no_trap_any_more():
    paid = Payment("rcpt_new", 5000, NOW - timedelta(minutes=30), "succeeded")
    late = entry(4, EntryKind.PURCHASE, 5000, 14825, 1, receipt="rcpt_new")
    assert kinds(books(payments=[paid])) == [K.MISSING_PURCHASE]
    assert kinds(books(payments=[paid], entries=[*HISTORY, late], balance_cents=14825)) == []
    linked = replace(paid, ledger_entry_id="le_4")
    assert kinds(books(payments=[linked])) == []


def test_a_failed_or_pending_payment_is_not_a_missing_purchase():
    for outcome in ("failed", "pending", "refused"):
        paid = Payment("rcpt_x", 5000, NOW - timedelta(hours=1), outcome)
        assert kinds(books(payments=[paid])) == []


@pytest.mark.parametrize(("age", "trapped"), [(timedelta(minutes=9, seconds=59), False),
                                              (timedelta(minutes=10), True)])
def test_a_coupon_bonus_that_never_arrived_is_filed_after_ten_minutes(age, trapped):
    use = CouponUse("Pro4Free", NOW - age, 4000)
    traps = find_traps(books(coupons=[use]), NOW)
    assert [t.kind for t in traps] == ([K.MISSING_COUPON_BONUS] if trapped else [])
    if trapped:
        assert traps[0].facts["coupon_code"] == "Pro4Free" and traps[0].at_risk_cents == 4000


def test_a_coupon_granted_after_all_or_without_a_bonus_is_no_trap():
    use = CouponUse("Basic2Credits", NOW - timedelta(hours=1), 2500)
    granted = entry(4, EntryKind.COUPON_BONUS, 2500, 12325, 1, coupon_code="basic2credits")
    assert kinds(books(coupons=[use], entries=[*HISTORY, granted],
                       balance_cents=12325)) == []
    assert kinds(books(coupons=[CouponUse("Basic2Free", NOW - timedelta(hours=1), 0)])) == []


def test_a_break_in_the_ledger_chain_is_disputed_with_expected_and_actual():
    broken = entry(4, EntryKind.AI_RUN, -100, 9525, 10, feature="ai_headshot")  # not 9725
    traps = find_traps(books(entries=[*HISTORY, broken], balance_cents=9525), NOW)
    (dispute,) = traps
    assert dispute.kind is K.BALANCE_DISPUTE and dispute.file
    assert (dispute.facts["expected_cents"], dispute.facts["actual_cents"]) == (9725, 9525)
    assert [e["id"] for e in dispute.facts["entries"]] == ["le_3", "le_4"]
    assert dispute.at_risk_cents == 200


def test_a_balance_ahead_of_the_ledger_waits_ten_minutes_before_it_is_a_dispute():
    ahead = books(balance_cents=9700)  # the newest entry says 9825
    key = mismatch_key(ahead)
    assert key == "balance:le_3:9700"
    assert kinds(ahead) == []  # never seen before: the next sync may bring the entry
    seen = {key: NOW - timedelta(minutes=9)}
    assert kinds(replace(ahead, first_seen=seen)) == []
    seen = {key: NOW - timedelta(minutes=10)}
    assert kinds(replace(ahead, first_seen=seen)) == [K.BALANCE_DISPUTE]
    assert mismatch_key(books()) is None
    # The cloud said its balance includes an entry we lack: the ledger lags, no dispute.
    seen = {key: NOW - timedelta(hours=2)}
    assert kinds(replace(ahead, first_seen=seen, ledger_behind=True)) == []


def test_a_renewal_from_credits_is_explained_and_one_of_the_wrong_size_disputed():
    renewal = entry(4, EntryKind.SUBSCRIPTION_RENEWAL, -5000, 4825, 5)
    traps = find_traps(books(entries=[*HISTORY, renewal], balance_cents=4825), NOW)
    assert [(t.kind, t.file) for t in traps] == [(K.RENEWAL_FROM_CREDITS, False)]
    assert "Payment Methods" in traps[0].message
    odd = entry(4, EntryKind.SUBSCRIPTION_RENEWAL, -7500, 2325, 5)
    assert kinds(books(entries=[*HISTORY, odd], balance_cents=2325)) == [K.BALANCE_DISPUTE]


def test_a_deduction_nothing_explains_is_disputed_but_old_history_is_left_alone():
    taken = entry(4, EntryKind.ADJUSTMENT, -2000, 7825, 5, description="manual")
    assert kinds(books(entries=[*HISTORY, taken], balance_cents=7825)) == [K.BALANCE_DISPUTE]
    old = entry(4, EntryKind.ADJUSTMENT, -2000, 7825, 60 * 24 * 31)
    assert kinds(books(entries=[*HISTORY, old], balance_cents=7825)) == []


@pytest.mark.parametrize(("days_left", "step"), [(20, None), (14, 14), (9.5, 14), (7, 7),
                                                 (3, 3), (2.2, 3), (0.5, 1)])
def test_a_plan_that_will_not_renew_is_reminded_at_14_7_3_and_1_days(days_left, step):
    ending = replace(ACCOUNT, renews_at=None, expires_at=NOW + timedelta(days=days_left))
    traps = find_traps(books(account=ending), NOW)
    if step is None:
        assert traps == []
        return
    (trap,) = traps
    assert trap.kind is K.PLAN_ENDING and not trap.file
    assert trap.key.startswith(f"plan_ending:{step}:")  # a new key, so a new reminder
    assert "$98.25" in trap.message and "Pay-As-You-Go keeps" in trap.message


def test_the_grace_period_of_a_lapsed_plan_counts_down_with_the_credit_at_risk():
    lapsed = replace(ACCOUNT, status=AccountStatus.EXPIRED, renews_at=None,
                     expires_at=NOW - timedelta(days=25), grace_ends_at=NOW + timedelta(days=5))
    (trap,) = find_traps(books(account=lapsed), NOW)
    assert trap.title == "5 days left" and "the account closes" in trap.message
    assert trap.at_risk_cents == 9825


def test_a_closed_account_files_a_restore_request_at_once():
    closed = replace(ACCOUNT, status=AccountStatus.CLOSED, grace_ends_at=NOW - timedelta(hours=2))
    (trap,) = find_traps(books(account=closed, balance_cents=0), NOW)
    assert trap.kind is K.ACCOUNT_RESTORE and trap.file and trap.severity == "critical"
    assert trap.facts["account_email"] == "op@booth.test"


def test_the_credits_a_closure_removed_are_the_restore_request_not_a_dispute():
    closed = replace(ACCOUNT, status=AccountStatus.CLOSED, grace_ends_at=NOW - timedelta(hours=2))
    removal = entry(4, EntryKind.ADJUSTMENT, -9825, 0, 110, description="Account closed")
    (trap,) = find_traps(books(account=closed, entries=[*HISTORY, removal], balance_cents=0), NOW)
    assert trap.kind is K.ACCOUNT_RESTORE and trap.facts["credits_before_cents"] == 9825
    assert "$98.25" in trap.message
    # The same deduction on an open account is disputed.
    assert kinds(books(entries=[*HISTORY, removal], balance_cents=0)) == [K.BALANCE_DISPUTE]


def test_a_deduction_support_gave_back_is_no_dispute_any_more():
    taken = entry(4, EntryKind.ADJUSTMENT, -2000, 7825, 30, description="manual")
    back = entry(5, EntryKind.ADJUSTMENT, 2000, 9825, 5, description="restored")
    assert kinds(books(entries=[*HISTORY, taken, back], balance_cents=9825)) == []
    other = entry(5, EntryKind.ADJUSTMENT, 1000, 8825, 5, description="goodwill")
    assert kinds(books(entries=[*HISTORY, taken, other], balance_cents=8825)) == [
        K.BALANCE_DISPUTE]
