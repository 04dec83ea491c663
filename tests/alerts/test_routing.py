"""The routing table, the rate limit and what a waiting alert becomes: pure core, by table."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.core.alert_outbox import OutboxAlert, disposition, phone_text
from app.core.alert_routing import (
    KINDS,
    Route,
    admission,
    kind_of,
    routes_from_setting,
    routes_to_setting,
    wants_phone,
    wants_tray,
)
from app.core.alerts import Alert

NOW = datetime(2026, 5, 1, 20, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("key", "kind"), [
    ("low-balance:2000", "low_balance"), ("runs-out:2026-05-01T22", "forecast"),
    ("offline:2026-05-01T19:00:00Z", "link_down"), ("online:2026-05-01T19:00:00Z", "link_back"),
    ("untrusted:x", "stale_balance"), ("held", "photos_held"), ("stuck", "queue_stuck"),
    ("paused:credits", "jobs_paused"), ("refund-filed:cloud:a,b", "claim_filed"),
    ("refund-refunded:c1", "claim_paid"), ("refund-rejected:c1", "claim_paid"),
    ("grace:expired:2026-05-09", "plan_grace"), ("renewal-upcoming:x", "plan_grace"),
    ("renewal-entry:e1", "account_trap"), ("account-closed", "account_trap"),
    ("trap:renewal", "account_trap"), ("duplicate:j1", "other"), ("", ""),
    # The account guard's notices (issue 11): traps, plan reminders, requests filed/settled.
    ("trap:missing_purchase:rcpt_1", "account_trap"),
    ("trap:account_restore:op@booth.test", "account_trap"),
    ("trap:plan_ending:3:2026-05-09T20:00:00Z", "plan_grace"),
    ("support-filed:r1,r2", "claim_filed"), ("support-resolved:r1", "claim_paid"),
    ("support-rejected:r1", "claim_paid"), ("runs-out:2026-05-01T23:30", "forecast"),
])
def test_every_alert_key_has_its_kind(key, kind):
    assert kind_of(key) == kind


def alert(key: str, severity: str = "warning", lasting: bool = False) -> Alert:
    return Alert(key, "Title", "Message.", severity, lasting)


@pytest.mark.parametrize(("setting", "key", "severity", "tray", "phone"), [
    ({}, "low-balance:2000", "warning", True, True),  # default: both
    ({}, "refund-filed:cloud:a", "info", True, False),  # default: tray only
    ({}, "duplicate:j1", "warning", True, False),
    ({}, "", "warning", True, False),  # an action's problem: tray, never the phone
    ({"low_balance": {"to": "phone"}}, "low-balance:1", "warning", False, True),
    ({"low_balance": {"to": "tray"}}, "low-balance:1", "warning", True, False),
    ({"low_balance": {"to": "off"}}, "low-balance:1", "critical", False, False),
    ({"held": {"to": "phone"}}, "held", "warning", True, True),  # unknown kind name: ignored
    ({"photos_held": {"min_severity": "critical"}}, "held", "warning", False, False),
    ({"photos_held": {"min_severity": "critical"}}, "held", "critical", True, True),
    ({"photos_held": {"min_severity": "loud", "to": 3}}, "held", "info", True, True),
    ({"photos_held": "both"}, "held", "info", True, True),  # a hand edit of the wrong shape
])
def test_routing_table(setting, key, severity, tray, phone):
    routes = routes_from_setting(setting)
    assert (wants_tray(alert(key, severity), routes),
            wants_phone(alert(key, severity), routes)) == (tray, phone)


def test_only_changed_routes_are_written_and_they_read_back():
    routes = routes_from_setting({})
    assert routes_to_setting(routes) == {}
    routes["forecast"] = Route("phone", "critical", 5)
    written = routes_to_setting(routes)
    assert written == {"forecast": {"to": "phone", "min_severity": "critical", "gap_minutes": 5}}
    assert routes_from_setting(written) == routes
    assert {k.name for k in KINDS} == set(routes)


M = timedelta(minutes=1)


@pytest.mark.parametrize(("gap", "same_key", "same_kind", "verdict"), [
    (30, None, None, "new"),
    (30, None, NOW - 10 * M, "rate_limited"),  # another low-balance 10 min ago
    (30, None, NOW - 30 * M, "new"),  # the gap has passed
    (0, None, NOW - 1 * M, "new"),  # no limit for this kind
    (0, NOW - 1 * M, NOW - 1 * M, "repeat"),  # the same alert again: a restart, a crash
    (0, NOW - 31 * M, NOW - 31 * M, "new"),  # a new episode of the same condition
])
def test_rate_limit_and_repeats(gap, same_key, same_kind, verdict):
    assert admission(Route("both", "info", gap), same_key, same_kind, NOW) == verdict


def item(kind: str, key: str, lasting: bool, age: timedelta) -> OutboxAlert:
    return OutboxAlert(7, key, kind, "Cloud unreachable", "No contact.", "warning", lasting,
                       "Booth A", NOW - age)


@pytest.mark.parametrize(("kind", "key", "lasting", "active", "age", "verdict"), [
    ("low_balance", "low-balance:1", True, {"low-balance:1"}, M, "send"),
    ("low_balance", "low-balance:1", True, {"low-balance:1"}, 10 * M, "late"),
    ("low_balance", "low-balance:1", True, set(), M, "drop"),  # topped up meanwhile
    ("link_down", "offline:x", True, set(), 10 * M, "late"),  # an outage's record: kept
    ("claim_paid", "refund-refunded:c", False, set(), 10 * M, "late"),  # an event: kept
    ("claim_paid", "refund-refunded:c", False, set(), 13 * 60 * M, "drop"),  # too old
])
def test_what_a_waiting_alert_becomes(kind, key, lasting, active, age, verdict):
    assert disposition(item(kind, key, lasting, age), active, NOW)[0] == verdict


def test_phone_text_names_the_booth_and_says_late():
    fresh = phone_text(item("link_down", "offline:x", True, M), NOW, late=False)
    assert fresh[0] == "Booth A: Cloud unreachable"
    assert fresh[1].endswith("— Booth A, alert #7")
    late = phone_text(item("link_down", "offline:x", True, 10 * M), NOW, late=True)
    assert late[0] == "Late — Booth A: Cloud unreachable"
    assert "10 min ago; could not be sent earlier" in late[1]


@pytest.mark.parametrize(("due", "last_due", "verdict"), [
    (NOW + 60 * M, NOW + 200 * M, "new"),  # a third of the time left the phone was told
    (NOW + 100 * M, NOW + 200 * M, "new"),  # exactly half
    (NOW + 101 * M, NOW + 200 * M, "rate_limited"),  # a little sooner: not news yet
    (NOW + 60 * M, None, "rate_limited"),  # nothing to compare with
    (None, NOW + 200 * M, "rate_limited"),
])
def test_a_deadline_twice_as_near_passes_the_rate_limit(due, last_due, verdict):
    route = Route("both", "info", 60)
    assert admission(route, None, NOW - 10 * M, NOW, due_at=due,
                     last_due_at=last_due) == verdict
