from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from app.core.alerts import alerts_for, ended_alerts, fresh_alerts
from app.core.bandwidth import PreflightResult, Verdict
from app.core.cache import CachedState, CloudContact, SyncHealth
from app.core.conditions import Condition, assess, link_is_slow, link_line
from app.core.jobs import QueueCounts, QueuePause
from app.core.model import Account, AccountStatus, EntryKind, LedgerEntry, PaymentMethod, Plan
from app.core.status import ViewSettings, build_view

NOW = datetime(2026, 11, 24, 18, 30, tzinfo=timezone.utc)
ACCOUNT = Account("op@booth.test", Plan.BASIC, AccountStatus.ACTIVE, PaymentMethod.CARD,
                  NOW + timedelta(days=20), None, None)
C = Condition


def view(balance=5000, account=ACCOUNT, failing_for=None, kind="offline", confirmed_ago=30,
         contact_kind=None, contact_for=None):
    """A view as the store builds it: a failed sync records the same failure in the shared
    link state; a failure seen only by a job or a check sets `contact_kind` alone."""
    health = SyncHealth(
        confirmed_at=NOW - timedelta(seconds=confirmed_ago),
        failing_since=NOW - timedelta(seconds=failing_for) if failing_for is not None else None,
        last_error="x" if failing_for is not None else None,
        last_error_kind=kind if failing_for is not None else None,
    )
    if contact_kind is None and failing_for is not None and kind in (
            "offline", "captive_portal", "unavailable"):
        contact_kind, contact_for = kind, failing_for
    contact = CloudContact() if contact_kind is None else CloudContact(
        failing_since=NOW - timedelta(seconds=contact_for or 0), kind=contact_kind,
        message="Cannot connect to the cloud at 127.0.0.1:45951.", source="jobs")
    return build_view(CachedState(account, balance, health, contact), NOW,
                      ViewSettings("https://c", low_balance_cents=2000))


def probe(verdict, minutes_ago=1, up=2.0):
    return PreflightResult(upload_mbps=up, download_mbps=None, verdict=verdict,
                           threshold_mbps=5.0, bytes_up=1, bytes_down=0, seconds=2.0,
                           method="server_count", measured_at=NOW - timedelta(minutes=minutes_ago))


def conditions(v, **kw):
    return [f.condition for f in assess(v, NOW, **kw).findings]


@pytest.mark.parametrize(("kwargs", "probe_verdict", "expected"), [
    ({}, None, [C.CURRENT]),
    ({"balance": 100}, None, [C.LOW_BALANCE, C.CURRENT]),
    ({"balance": 100, "failing_for": 5}, None, [C.OFFLINE, C.LOW_BALANCE]),
    ({"failing_for": 5, "kind": "unavailable"}, None, [C.NOT_CURRENT]),
    ({"failing_for": 5, "kind": "auth"}, None, [C.NEEDS_ATTENTION, C.NOT_CURRENT]),
    ({"balance": 0}, None, [C.NEEDS_ATTENTION, C.CURRENT]),
    ({"confirmed_ago": 600}, None, [C.NOT_CURRENT]),
    ({}, Verdict.SLOW, [C.SLOW_LINK, C.CURRENT]),
    # Low balance and a slow link at once: both listed, the icon shows the worse one.
    ({"balance": 100}, Verdict.SLOW, [C.SLOW_LINK, C.LOW_BALANCE, C.CURRENT]),
    ({"failing_for": 5}, Verdict.SLOW, [C.OFFLINE, C.SLOW_LINK]),
    # A job that could not reach the cloud turns everything offline, whatever the sync said.
    ({"contact_kind": "offline", "contact_for": 3}, None, [C.OFFLINE]),
    ({"contact_kind": "captive_portal", "contact_for": 3}, None, [C.OFFLINE]),
])
def test_every_active_condition_is_listed_worst_first(kwargs, probe_verdict, expected):
    link = probe(probe_verdict) if probe_verdict else None
    found = assess(view(**kwargs), NOW, link=link)
    assert [f.condition for f in found.findings] == expected
    assert found.worst is expected[0]
    assert sum(f.condition in (C.CURRENT, C.NOT_CURRENT, C.OFFLINE) for f in found.findings) == 1


def test_an_expired_plan_and_a_paused_queue_need_attention_with_reasons():
    expired = replace(ACCOUNT, status=AccountStatus.EXPIRED, grace_ends_at=NOW + timedelta(days=9))
    found = assess(view(account=expired), NOW)
    assert found.worst is C.NEEDS_ATTENTION
    assert "downgrade to Pay-As-You-Go" in found.findings[0].line
    assert "$50.00" in found.findings[0].line
    paused = QueueCounts({"pending": 3}, pause=QueuePause("credits", "402", NOW))
    lines = [f.line for f in assess(view(), NOW, queue=paused).findings]
    assert lines[0] == "AI paused, 3 photos waiting: not enough credits"


def test_held_photos_are_part_of_the_slow_link_condition():
    queue = QueueCounts({"held": 2, "pending": 1})
    found = assess(view(), NOW, queue=queue)
    assert found.worst is C.SLOW_LINK and "2 photos held" in found.findings[0].line


def test_just_now_never_stands_beside_not_current():
    failing = assess(view(failing_for=5, confirmed_ago=20), NOW)
    assert failing.worst is C.OFFLINE and "just now" not in failing.age
    assert failing.age.endswith("under a minute ago")
    assert assess(view(confirmed_ago=20), NOW).age.endswith("just now")


def test_operator_lines_carry_no_host_or_status_code():
    found = assess(view(failing_for=5), NOW)
    offline = found.findings[0]
    assert "127.0.0.1" not in offline.line and "127.0.0.1" in offline.detail
    assert offline.line.startswith("Offline since ")
    for kwargs in ({"failing_for": 5, "kind": "unavailable"}, {"balance": 100},
                   {"failing_for": 5, "kind": "auth"}):
        for f in assess(view(**kwargs), NOW).findings:
            assert "HTTP" not in f.line and ":45951" not in f.line and len(f.line) <= 64


def test_the_words_name_every_active_condition_once():
    found = assess(view(balance=100, failing_for=5), NOW, link=probe(Verdict.SLOW))
    assert found.words() == "OFFLINE + SLOW LINK + LOW BALANCE"


def test_a_speed_measured_before_the_outage_is_not_shown_as_the_link_now():
    fast = probe(Verdict.OK, minutes_ago=2, up=318.6)
    assert "318.6" in link_line(fast, view(), NOW)
    offline = link_line(fast, view(failing_for=30), NOW)
    assert "318.6" not in offline and offline.startswith("Connection: no cloud since")


def keys(alerts):
    return {a.key.split(":")[0] for a in alerts}


def test_low_balance_notifies_once_per_episode():
    low = alerts_for(view(balance=1500), [], NOW)
    shown, active = fresh_alerts(low, set())
    assert keys(shown) == {"low-balance"}
    shown_again, active = fresh_alerts(alerts_for(view(balance=1400), [], NOW), active)
    assert shown_again == []
    _, active = fresh_alerts(alerts_for(view(balance=9000), [], NOW), active)  # topped up
    shown_third, _ = fresh_alerts(alerts_for(view(balance=1000), [], NOW), active)
    assert keys(shown_third) == {"low-balance"}


def test_untrusted_alert_after_ten_minutes_of_failures():
    assert "untrusted" not in keys(alerts_for(view(failing_for=60), [], NOW))
    alerts = alerts_for(view(failing_for=11 * 60, confirmed_ago=12 * 60), [], NOW)
    assert "untrusted" in keys(alerts)
    assert next(a for a in alerts if a.key.startswith("untrusted")).severity == "critical"


def test_renewal_entry_from_credits_alerts():
    entry = LedgerEntry("e9", NOW, EntryKind.SUBSCRIPTION_RENEWAL, -5000, 1000)
    alerts = alerts_for(view(), [entry], NOW)
    renewal = [a for a in alerts if a.key == "renewal-entry:e9"]
    assert renewal and "$50.00" in renewal[0].message


def test_upcoming_renewal_paid_by_credits_warns_but_not_by_card():
    soon = replace(ACCOUNT, renews_at=NOW + timedelta(days=2))
    assert "renewal-upcoming" not in keys(alerts_for(view(account=soon), [], NOW))
    by_credits = replace(soon, primary_payment_method=PaymentMethod.CREDITS)
    assert "renewal-upcoming" in keys(alerts_for(view(account=by_credits), [], NOW))


def test_expired_plan_warns_about_grace_period_with_amount():
    expired = replace(ACCOUNT, status=AccountStatus.EXPIRED, grace_ends_at=NOW + timedelta(days=20))
    alerts = [a for a in alerts_for(view(account=expired), [], NOW) if a.key.startswith("grace")]
    assert alerts and "$50.00" in alerts[0].message and "20 days" in alerts[0].message


@pytest.mark.parametrize("days", [14, 9, 2])
def test_a_short_grace_period_is_one_notice_the_guards_reminder(days):
    """Entering a grace period with a reminder due gave two notices at once (this one and the
    guard's 14/7/3/1-day reminder): the reminder alone tells it, with the credit at risk."""
    from app.core.account_guard import Books, TrapKind, find_traps

    expired = replace(ACCOUNT, status=AccountStatus.EXPIRED,
                      grace_ends_at=NOW + timedelta(days=days) - timedelta(minutes=1))
    notices = [a for a in alerts_for(view(account=expired), [], NOW)
               if a.key.startswith(("grace", "account"))]
    reminders = [t for t in find_traps(Books(expired, 5000, []), NOW)
                 if t.kind is TrapKind.PLAN_ENDING]
    assert notices == [] and len(reminders) == 1


def test_a_closed_account_is_told_by_the_guard_alone():
    """The sync's "contact support now" clashed with the guard's restore request."""
    closed = replace(ACCOUNT, status=AccountStatus.CLOSED)
    assert not [a for a in alerts_for(view(balance=0, account=closed), [], NOW)
                if "closed" in a.key or "closed" in a.title.lower()]


def test_old_history_from_a_first_sync_is_not_news():
    old = LedgerEntry("e1", NOW - timedelta(days=20), EntryKind.SUBSCRIPTION_RENEWAL, -5000, 1)
    assert not [a for a in alerts_for(view(), [old], NOW) if a.key.startswith("renewal-entry")]


def test_a_slow_reading_is_remembered_for_ten_minutes_only():
    assert link_is_slow(probe(Verdict.SLOW, 9), NOW)
    assert not link_is_slow(probe(Verdict.SLOW, 11), NOW)
    assert not link_is_slow(probe(Verdict.MARGINAL, 1), NOW)
    assert not link_is_slow(None, NOW)


def test_an_outage_notifies_after_a_minute_and_again_when_it_ends():
    since = NOW - timedelta(minutes=10)

    def at(minutes, *, down=True):
        now = since + timedelta(minutes=minutes)
        contact = CloudContact(failing_since=since, kind="offline") if down else CloudContact(
            ok_at=now)
        v = build_view(CachedState(ACCOUNT, 5000, SyncHealth(confirmed_at=since), contact), now,
                       ViewSettings("https://c"))
        return alerts_for(v, [], now), now

    assert "offline" not in keys(at(0.9)[0])  # a short drop: the icon says it, no notice
    shown, active = fresh_alerts(at(1)[0], set())
    (outage,) = [a for a in shown if a.key.startswith("offline")]
    assert outage.title == "Cloud unreachable" and outage.lasting
    again, active = fresh_alerts(at(6)[0], active)
    assert not [a for a in again if a.key.startswith("offline")]  # once per outage
    alerts, now = at(7, down=False)
    _, after = fresh_alerts(alerts, active)
    (back,) = ended_alerts(active, after, now)
    assert back.title == "Cloud reachable again" and "after 7 min" in back.message
    assert ended_alerts(after, after, now) == []
