"""Requests to support, rule by rule: which traps are filed, when the account settles one, and
what support reads (the cloud body and the letter)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from app.core.account_guard import Books, CouponUse, Payment, Trap, TrapKind, find_traps
from app.core.model import Account, AccountStatus, EntryKind, LedgerEntry, PaymentMethod, Plan
from app.core.refund_filing import Identity
from app.core.support_letter import cloud_request, compose
from app.core.support_requests import (
    RequestStatus,
    new_request,
    reconcile,
    request_json,
    to_file,
    trap_alert,
)

NOW = datetime(2026, 12, 3, 20, 0, tzinfo=timezone.utc)
ACCOUNT = Account("op@booth.test", Plan.BASIC, AccountStatus.ACTIVE, PaymentMethod.CARD,
                  NOW + timedelta(days=20), None, None)
WHO = Identity("op@booth.test", "Booth 1")
BASE = [LedgerEntry("le_1", NOW - timedelta(hours=5), EntryKind.PURCHASE, 10000, 10000,
                    receipt="rcpt_old")]
PAID = Payment("rcpt_new", 5000, NOW - timedelta(minutes=20), "succeeded")
COUPON = CouponUse("Pro4Free", NOW - timedelta(minutes=20), 4000)


def books(**changes) -> Books:
    return replace(Books(ACCOUNT, 10000, BASE), **changes)


def trap_of(b: Books, kind: TrapKind) -> Trap:
    return next(t for t in find_traps(b, NOW) if t.kind is kind)


def test_only_traps_that_need_support_are_filed_and_each_only_once():
    renewal = LedgerEntry("le_2", NOW - timedelta(hours=1), EntryKind.SUBSCRIPTION_RENEWAL,
                          -5000, 5000)
    b = books(payments=[PAID], entries=[*BASE, renewal], balance_cents=5000)
    traps = find_traps(b, NOW)
    assert {t.kind for t in traps} == {TrapKind.MISSING_PURCHASE, TrapKind.RENEWAL_FROM_CREDITS}
    assert [t.kind for t in to_file(traps, set(), set())] == [TrapKind.MISSING_PURCHASE]
    assert to_file(traps, {"missing_purchase:rcpt_new"}, set()) == []


def test_one_balance_mismatch_dispute_at_a_time_and_none_while_an_entry_is_on_its_way():
    a = Trap(TrapKind.BALANCE_DISPUTE, "balance:le_3:9700", "t", "m", file=True)
    b = Trap(TrapKind.BALANCE_DISPUTE, "balance:le_4:9500", "t", "m", file=True)
    assert to_file([a, b], set(), set()) == [a]
    assert to_file([b], {a.key}, {a.key}) == []  # re-keyed by a new entry: still one dispute
    taken = Trap(TrapKind.BALANCE_DISPUTE, "deduction:le_5", "t", "m", file=True)
    assert to_file([taken], set(), set(), ledger_agrees=False) == []
    assert to_file([taken], set(), set()) == [taken]


def test_a_purchase_credited_late_resolves_a_filed_request_and_withdraws_a_pending_one():
    req = new_request(trap_of(books(payments=[PAID]), TrapKind.MISSING_PURCHASE), NOW)
    late = LedgerEntry("le_9", PAID.at, EntryKind.PURCHASE, 5000, 15000, receipt="rcpt_new")
    credited = books(payments=[PAID], entries=[*BASE, late], balance_cents=15000)
    assert reconcile([req], books(payments=[PAID])) == []
    (pending,) = reconcile([req], credited)
    assert pending.status is RequestStatus.WITHDRAWN and pending.credited_entry_id == "le_9"
    (attempted,) = reconcile([req], credited, {req.id})  # it may have reached support
    assert attempted.status is RequestStatus.RESOLVED
    (filed,) = reconcile([replace(req, status=RequestStatus.FILED)], credited)
    assert filed.status is RequestStatus.RESOLVED and "reached the balance" in filed.resolution


def test_a_coupon_granted_after_the_request_was_filed_closes_it_as_resolved():
    req = replace(new_request(trap_of(books(coupons=[COUPON]), TrapKind.MISSING_COUPON_BONUS),
                              NOW), status=RequestStatus.ACKNOWLEDGED)
    linked = replace(COUPON, ledger_entry_id="le_7")
    (done,) = reconcile([req], books(coupons=[linked]))
    assert done.status is RequestStatus.RESOLVED and done.credited_entry_id == "le_7"


def test_a_dispute_is_settled_by_the_credits_coming_back_and_a_restore_by_an_open_account():
    taken = LedgerEntry("le_2", NOW - timedelta(minutes=5), EntryKind.ADJUSTMENT, -2000, 8000)
    b = books(entries=[*BASE, taken], balance_cents=8000)
    req = replace(new_request(trap_of(b, TrapKind.BALANCE_DISPUTE), NOW),
                  status=RequestStatus.FILED)
    assert reconcile([req], b) == []
    back = LedgerEntry("le_3", NOW + timedelta(minutes=1), EntryKind.ADJUSTMENT, 2000, 10000)
    (done,) = reconcile([req], replace(b, entries=[*BASE, taken, back], balance_cents=10000))
    assert done.status is RequestStatus.RESOLVED and done.credited_entry_id == "le_3"
    closed = replace(ACCOUNT, status=AccountStatus.CLOSED, grace_ends_at=NOW)
    restore = replace(new_request(trap_of(books(account=closed), TrapKind.ACCOUNT_RESTORE), NOW),
                      status=RequestStatus.FILED)
    assert reconcile([restore], books(account=closed)) == []
    assert reconcile([restore], books())[0].status is RequestStatus.RESOLVED


def test_the_cloud_body_and_the_letter_carry_what_support_asks_for():
    req = new_request(trap_of(books(payments=[PAID]), TrapKind.MISSING_PURCHASE), NOW)
    body = cloud_request(req, WHO)
    assert body["kind"] == "missing_purchase" and body["receipt"] == "rcpt_new"
    assert body["amount_cents"] == 5000 and body["account_email"] == "op@booth.test"
    letter = compose(req, WHO)
    assert letter.subject == ("Purchase not credited: receipt rcpt_new, $50.00 - op@booth.test"
                              " (Booth 1)")
    assert "Receipt:          rcpt_new" in letter.body and "2026-12-03 19:40:00" in letter.body
    assert json.loads(letter.json_text)["receipt"] == "rcpt_new" and letter.extra == ()
    assert request_json(req)["status"] == "pending" and not request_json(req)["screenshot"]


def test_a_dispute_carries_its_entries_and_the_screenshot_when_there_is_one():
    taken = LedgerEntry("le_2", NOW - timedelta(minutes=5), EntryKind.ADJUSTMENT, -2000, 8000)
    trap = trap_of(books(entries=[*BASE, taken], balance_cents=8000), TrapKind.BALANCE_DISPUTE)
    req = new_request(trap, NOW, hold=timedelta(minutes=2))
    assert req.hold_until == NOW + timedelta(minutes=2)
    without = cloud_request(req, WHO)
    assert [a["filename"] for a in without["attachments"]] == ["usage-entries.csv"]
    assert "No screenshot could be taken" in compose(req, WHO).body
    shot = replace(req, screenshot=b"\x89PNG...")
    assert [a["filename"] for a in cloud_request(shot, WHO)["attachments"]] == [
        "usage-entries.csv", "balance.png"]
    assert compose(shot, WHO).extra == (("balance.png", "image/png", b"\x89PNG..."),)
    assert "le_2" in compose(shot, WHO).csv_text
    assert trap_alert(trap).key == "trap:deduction:le_2" and trap_alert(trap).lasting
