"""The tray's account lines: which trap is the worst, how it reads, when the line clears, and
the plan's countdown."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from app.core.account_guard import Books, CouponUse, Payment, Trap, TrapKind, find_traps
from app.core.model import Account, AccountStatus, EntryKind, LedgerEntry, PaymentMethod, Plan
from app.core.support_requests import RequestStatus, new_request
from app.core.trap_line import countdown_line, money, open_traps, time_left, trap_line

NOW = datetime(2026, 12, 3, 20, 0, tzinfo=timezone.utc)
ACCOUNT = Account("op@booth.test", Plan.BASIC, AccountStatus.ACTIVE, PaymentMethod.CARD,
                  NOW + timedelta(days=20), None, None)
HISTORY = [LedgerEntry("le_1", NOW - timedelta(hours=5), EntryKind.PURCHASE, 10000, 10000)]
PAID = Payment("rcpt_9", 5000, NOW - timedelta(minutes=11), "succeeded")
COUPON = CouponUse("Pro4Free", NOW - timedelta(minutes=12), 4000)
K = TrapKind


def traps(**changes) -> list[Trap]:
    books = replace(Books(ACCOUNT, 10000, HISTORY), **changes)
    return find_traps(books, NOW)


def local(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M")


def test_no_trap_no_line():
    assert trap_line(traps(), [], NOW) == ""


@pytest.mark.parametrize(("status", "filed", "ending"), [
    (None, False, "asking support"),
    (RequestStatus.PENDING, False, "asking support"),
    (RequestStatus.FILED, True, "support asked {t}"),
    (RequestStatus.ACKNOWLEDGED, True, "support reviewing (asked {t})"),
    (RequestStatus.REJECTED, True, "support said no"),
])
def test_the_line_says_what_happened_and_how_far_support_is(status, filed, ending):
    found = traps(payments=[PAID])
    filed_at = NOW - timedelta(minutes=1)
    reqs = [] if status is None else [replace(new_request(found[0], NOW), status=status,
                                              filed_at=filed_at if filed else None)]
    assert trap_line(found, reqs, NOW) == (
        f"Purchase $50 not credited — {ending.format(t=local(filed_at))}")


@pytest.mark.parametrize("status", [RequestStatus.RESOLVED, RequestStatus.WITHDRAWN])
def test_a_settled_request_clears_the_line(status):
    found = traps(payments=[PAID])
    req = replace(new_request(found[0], NOW), status=status)
    assert trap_line(found, [req], NOW) == ""


def test_the_line_clears_when_the_credits_arrive():
    found = traps(payments=[PAID])
    req = replace(new_request(found[0], NOW), status=RequestStatus.FILED, filed_at=NOW)
    assert trap_line(found, [req], NOW)
    credited = [*HISTORY, LedgerEntry("le_2", NOW, EntryKind.PURCHASE, 5000, 15000,
                                      receipt="rcpt_9")]
    assert trap_line(traps(payments=[PAID], entries=credited, balance_cents=15000), [req],
                     NOW) == ""


def test_the_worst_trap_speaks_and_the_others_are_counted():
    closed = replace(ACCOUNT, status=AccountStatus.CLOSED, renews_at=None,
                     grace_ends_at=NOW - timedelta(hours=1))
    found = traps(account=closed, payments=[PAID], coupons=[COUPON], balance_cents=8000)
    assert [t.kind for t, _ in open_traps(found, [])] == [
        K.ACCOUNT_RESTORE, K.MISSING_PURCHASE, K.MISSING_COUPON_BONUS]
    assert trap_line(found, [], NOW) == "Account closed, $80 removed — asking support (+2 more)"


@pytest.mark.parametrize(("changes", "line"), [
    ({"coupons": [COUPON]}, "Pro4Free bonus $40 not activated"),
    ({"entries": [*HISTORY, LedgerEntry("le_2", NOW - timedelta(minutes=3),
                                        EntryKind.ADJUSTMENT, -2050, 7950)],
      "balance_cents": 7950}, "$20.50 deducted, nothing explains it"),
])
def test_each_trap_in_plain_words(changes, line):
    assert trap_line(traps(**changes), [], NOW) == f"{line} — asking support"


def test_explained_traps_and_reminders_make_no_trap_line():
    renewal = [*HISTORY, LedgerEntry("le_2", NOW - timedelta(hours=1),
                                     EntryKind.SUBSCRIPTION_RENEWAL, -5000, 5000)]
    ending = replace(ACCOUNT, renews_at=None, expires_at=NOW + timedelta(days=6))
    found = traps(entries=renewal, balance_cents=5000, account=ending)
    assert {t.kind for t in found} == {K.RENEWAL_FROM_CREDITS, K.PLAN_ENDING}
    assert trap_line(found, [], NOW) == ""


# -- the countdown ------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "days", "line"), [
    (AccountStatus.EXPIRED, 12.5, "Grace: 12 days left; Pay-As-You-Go keeps $84.70"),
    (AccountStatus.SUSPENDED, 0.2, "Grace: 4 h left; Pay-As-You-Go keeps $84.70"),
    (AccountStatus.EXPIRED, -0.1, ""),  # over: the account closes, the restore request speaks
])
def test_the_grace_period_counts_down(status, days, line):
    acct = replace(ACCOUNT, status=status, renews_at=None, expires_at=NOW - timedelta(days=3),
                   grace_ends_at=NOW + timedelta(days=days))
    assert countdown_line(acct, 8470, NOW) == line


@pytest.mark.parametrize(("days", "line"), [
    (14.5, ""),  # before the first reminder
    (14, "Plan ends in 14 days; Pay-As-You-Go keeps $84.70"),
    (1.5, "Plan ends in 1 day 12 h; Pay-As-You-Go keeps $84.70"),
])
def test_a_plan_that_will_not_renew_counts_down_from_the_first_reminder(days, line):
    acct = replace(ACCOUNT, renews_at=None, expires_at=NOW + timedelta(days=days))
    assert countdown_line(acct, 8470, NOW) == line


def test_a_renewing_plan_or_paygo_has_no_countdown():
    assert countdown_line(ACCOUNT, 8470, NOW) == ""
    paygo = replace(ACCOUNT, plan=Plan.PAY_AS_YOU_GO, renews_at=None)
    assert countdown_line(paygo, 8470, NOW) == ""
    assert countdown_line(None, 8470, NOW) == ""


@pytest.mark.parametrize(("span", "text"), [
    (timedelta(days=3, hours=5), "3 days"), (timedelta(days=1), "1 day"),
    (timedelta(days=1, hours=2), "1 day 2 h"), (timedelta(hours=2, minutes=59), "2 h"),
    (timedelta(minutes=40), "40 min"), (timedelta(seconds=5), "1 min"),
])
def test_time_left(span, text):
    assert time_left(span) == text


def test_money_drops_zero_cents():
    assert (money(5000), money(2050), money(123456)) == ("$50", "$20.50", "$1,234.56")
