from datetime import datetime, timedelta, timezone

import pytest

from app.core.cache import CONTACT_FAILURES, CachedState, CloudContact, SyncHealth
from app.core.model import Account, AccountStatus, PaymentMethod, Plan
from app.core.status import ViewSettings, age_text, build_view

NOW = datetime(2026, 11, 24, 18, 30, tzinfo=timezone.utc)
SETTINGS = ViewSettings(cloud_url="https://cloud.test", low_balance_cents=2000)
ACCOUNT = Account("op@booth.test", Plan.BASIC, AccountStatus.ACTIVE, PaymentMethod.CARD,
                  None, None, None)


def state(balance=5000, confirmed_ago=60, failing_for=None, kind="offline") -> CachedState:
    """As the store keeps it: a failed sync that could not reach the cloud also marks the
    shared link state."""
    confirmed = NOW - timedelta(seconds=confirmed_ago) if confirmed_ago is not None else None
    failing = NOW - timedelta(seconds=failing_for) if failing_for is not None else None
    contact = CloudContact(failing_since=failing, kind=kind, message="Cannot connect") if (
        failing and kind in CONTACT_FAILURES) else CloudContact()
    return CachedState(
        account=ACCOUNT,
        balance_cents=balance,
        health=SyncHealth(
            confirmed_at=confirmed,
            failing_since=failing,
            last_error="Cannot connect" if failing else None,
            last_error_kind=kind if failing else None,
        ),
        contact=contact,
    )


def test_fresh_confirmed_balance_is_neither_stale_nor_offline():
    view = build_view(state(), NOW, SETTINGS)
    assert (view.balance_cents, view.stale, view.offline, view.untrusted) == (5000, False, False,
                                                                             False)
    assert view.age_seconds == 60


def test_old_confirmation_is_stale_even_without_a_failure():
    view = build_view(state(confirmed_ago=6 * 60), NOW, SETTINGS)
    assert view.stale and not view.offline


@pytest.mark.parametrize("kind, offline", [("offline", True), ("captive_portal", True),
                                           ("auth", False), ("unavailable", False)])
def test_failing_sync_marks_stale_and_offline_only_for_connectivity(kind, offline):
    view = build_view(state(failing_for=30, kind=kind), NOW, SETTINGS)
    assert view.stale
    assert view.offline is offline
    assert view.last_error == "Cannot connect"
    assert view.balance_cents == 5000  # the last confirmed figure stays visible


def test_untrusted_only_after_failing_long_enough():
    assert not build_view(state(failing_for=9 * 60), NOW, SETTINGS).untrusted
    assert build_view(state(failing_for=10 * 60), NOW, SETTINGS).untrusted


def test_never_synced_is_unknown_stale_and_untrusted():
    view = build_view(CachedState(), NOW, SETTINGS)
    assert view.balance_cents is None and view.as_of is None
    assert view.stale and view.untrusted and not view.low_balance
    assert view.balance_text() == "balance unknown"


def test_low_balance_is_strictly_below_threshold():
    assert build_view(state(balance=1999), NOW, SETTINGS).low_balance
    assert not build_view(state(balance=2000), NOW, SETTINGS).low_balance


def test_json_has_the_documented_fields():
    data = build_view(state(), NOW, SETTINGS).to_json()
    for key in ("balance_cents", "as_of", "age_seconds", "stale", "account_email", "cloud_url"):
        assert key in data
    assert data["as_of"] == "2026-11-24T18:29:00Z"
    assert data["account_email"] == "op@booth.test"


@pytest.mark.parametrize("ago, expected", [
    (5, "just now"), (180, "3 min ago"), (3600, "1 h ago"), (3 * 3600 + 120, "3 h 2 min ago"),
    (2 * 86400, "2 days ago"),
])
def test_age_text_says_how_old(ago, expected):
    text = age_text(NOW - timedelta(seconds=ago), NOW)
    assert text.startswith("as of ") and text.endswith(expected)


def test_age_text_shows_local_clock_time():
    as_of = NOW - timedelta(minutes=3)
    assert as_of.astimezone().strftime("%H:%M") in age_text(as_of, NOW)


@pytest.mark.parametrize(("cloud_behind", "note"), [
    (3600, "This PC's clock is 1 h ahead of the cloud's"),
    (-120, "This PC's clock is 2 min behind the cloud's"),
    (20, None),  # seconds are the round trip and rounding: not worth a word
])
def test_status_gives_the_clouds_time_and_says_when_the_clocks_disagree(cloud_behind, note):
    """Issue 10, finding 3: `as_of` is the cloud's time of the figure, this PC's is
    `confirmed_at`, and an offset over a minute is told."""
    from dataclasses import replace

    from app.core.status import clock_note

    cached = state()
    confirmed = cached.health.confirmed_at
    cloud_as_of = confirmed - timedelta(seconds=cloud_behind)
    view = build_view(replace(cached, health=replace(cached.health, cloud_as_of=cloud_as_of)),
                      NOW, SETTINGS)
    data = view.to_json()
    assert data["as_of"] == cloud_as_of.isoformat().replace("+00:00", "Z")
    assert data["confirmed_at"] == confirmed.isoformat().replace("+00:00", "Z")
    assert data["clock_offset_seconds"] == -cloud_behind
    assert view.age_seconds == 60, "ages stay on this PC's clock: never negative"
    assert (clock_note(view) or "").startswith(note or "") and bool(clock_note(view)) == bool(note)
