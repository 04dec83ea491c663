"""The one assessment with the account guard's traps: an open money trap is not green, a plan
ending within 14 days needs attention, and a closed account speaks in one voice."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from app.core.account_guard import Books, Payment, TrapKind, find_traps
from app.core.cache import CachedState, SyncHealth
from app.core.conditions import Condition, assess
from app.core.model import Account, AccountStatus, PaymentMethod, Plan
from app.core.status import ViewSettings, build_view
from app.core.support_requests import RequestStatus, new_request

NOW = datetime(2026, 11, 24, 18, 30, tzinfo=timezone.utc)
ACCOUNT = Account("op@booth.test", Plan.BASIC, AccountStatus.ACTIVE, PaymentMethod.CARD,
                  NOW + timedelta(days=20), None, None)


def view(account: Account = ACCOUNT, balance: int = 5000):
    health = SyncHealth(confirmed_at=NOW - timedelta(seconds=30))
    return build_view(CachedState(account, balance, health), NOW, ViewSettings("https://c"))


def test_an_open_trap_is_not_green():
    paid = Payment("rcpt_1", 5000, NOW - timedelta(minutes=11), "succeeded")
    traps = find_traps(Books(ACCOUNT, 5000, [], payments=[paid]), NOW)
    assert [t.kind for t in traps] == [TrapKind.MISSING_PURCHASE]
    assert assess(view(), NOW).worst is Condition.CURRENT  # without the guard: green
    found = assess(view(), NOW, traps=traps)
    assert found.worst is Condition.NEEDS_ATTENTION
    assert found.findings[0].line == "Purchase $50 not credited — asking support"
    req = replace(new_request(traps[0], NOW), status=RequestStatus.FILED, filed_at=NOW)
    local = NOW.astimezone().strftime("%H:%M")
    assert assess(view(), NOW, traps=traps, requests=[req]).findings[0].line == (
        f"Purchase $50 not credited — support asked {local}")
    settled = replace(req, status=RequestStatus.RESOLVED)
    assert assess(view(), NOW, traps=traps, requests=[settled]).worst is Condition.CURRENT


def test_a_plan_ending_within_fourteen_days_needs_attention():
    ending = replace(ACCOUNT, renews_at=None, expires_at=NOW + timedelta(days=13))
    traps = find_traps(Books(ending, 5000, []), NOW)
    assert assess(view(ending), NOW, traps=traps).worst is Condition.NEEDS_ATTENTION


def test_a_closed_account_says_the_restore_request_in_one_voice():
    closed = replace(ACCOUNT, status=AccountStatus.CLOSED, grace_ends_at=NOW - timedelta(hours=2))
    traps = find_traps(Books(closed, 0, []), NOW)
    (trap,) = traps
    alone = assess(view(closed, 0), NOW).findings[0].line
    assert "contact support now" in alone  # nothing filed: the operator must ask
    req = replace(new_request(trap, NOW), status=RequestStatus.FILED, filed_at=NOW)
    found = assess(view(closed, 0), NOW, traps=traps, requests=[req])
    lines = [f.line for f in found.findings if f.condition is Condition.NEEDS_ATTENTION]
    local = NOW.astimezone().strftime("%H:%M")
    no_credits = "No credits left: AI is paused until you buy credits"
    assert lines == [f"Account closed: a restore request was filed at {local}; support can "
                     "often restore credits within days", no_credits]
    assert not any("contact support" in f.line or "contact support" in f.detail
                   for f in found.findings)
    pending = assess(view(closed, 0), NOW, traps=traps).findings[0].line
    assert pending.startswith("Account closed: a restore request is being filed")
