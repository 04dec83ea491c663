from dataclasses import replace
from datetime import datetime, timedelta, timezone

from app.core.alerts import alerts_for, fresh_alerts
from app.core.cache import CachedState, SyncHealth
from app.core.model import Account, AccountStatus, EntryKind, LedgerEntry, PaymentMethod, Plan
from app.core.status import ViewSettings, build_view
from app.core.tray_state import TrayState, tray_state

NOW = datetime(2026, 11, 24, 18, 30, tzinfo=timezone.utc)
ACCOUNT = Account("op@booth.test", Plan.BASIC, AccountStatus.ACTIVE, PaymentMethod.CARD,
                  NOW + timedelta(days=20), None, None)


def view(balance=5000, account=ACCOUNT, failing_for=None, kind="offline", confirmed_ago=30):
    health = SyncHealth(
        confirmed_at=NOW - timedelta(seconds=confirmed_ago),
        failing_since=NOW - timedelta(seconds=failing_for) if failing_for is not None else None,
        last_error="x" if failing_for is not None else None,
        last_error_kind=kind if failing_for is not None else None,
    )
    return build_view(CachedState(account, balance, health), NOW,
                      ViewSettings("https://c", low_balance_cents=2000))


def test_tray_state_priorities():
    assert tray_state(view()) is TrayState.OK
    assert tray_state(view(balance=100)) is TrayState.LOW
    assert tray_state(view(balance=100, failing_for=5)) is TrayState.STALE
    assert tray_state(view(failing_for=5, kind="auth")) is TrayState.ATTENTION
    assert tray_state(view(balance=0)) is TrayState.ATTENTION
    expired = replace(ACCOUNT, status=AccountStatus.EXPIRED)
    assert tray_state(view(account=expired)) is TrayState.ATTENTION


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
    expired = replace(ACCOUNT, status=AccountStatus.EXPIRED, grace_ends_at=NOW + timedelta(days=9))
    alerts = [a for a in alerts_for(view(account=expired), [], NOW) if a.key.startswith("grace")]
    assert alerts and "$50.00" in alerts[0].message and "9 days" in alerts[0].message


def test_old_history_from_a_first_sync_is_not_news():
    old = LedgerEntry("e1", NOW - timedelta(days=20), EntryKind.SUBSCRIPTION_RENEWAL, -5000, 1)
    assert not [a for a in alerts_for(view(), [old], NOW) if a.key.startswith("renewal-entry")]


def test_slow_link_ranks_below_stale_and_above_low_balance():
    assert tray_state(view(), link_slow=True) is TrayState.SLOW_LINK
    assert tray_state(view(balance=100), link_slow=True) is TrayState.SLOW_LINK
    assert tray_state(view(failing_for=5), link_slow=True) is TrayState.STALE


def test_a_slow_reading_is_remembered_for_ten_minutes_only():
    from app.core.bandwidth import PreflightResult, Verdict
    from app.core.tray_state import link_is_slow

    def result(verdict, minutes_ago):
        return PreflightResult(upload_mbps=2.0, download_mbps=None, verdict=verdict,
                               threshold_mbps=5.0, bytes_up=1, bytes_down=0, seconds=2.0,
                               method="server_count",
                               measured_at=NOW - timedelta(minutes=minutes_ago))

    assert link_is_slow(result(Verdict.SLOW, 9), NOW)
    assert not link_is_slow(result(Verdict.SLOW, 11), NOW)
    assert not link_is_slow(result(Verdict.MARGINAL, 1), NOW)
    assert not link_is_slow(None, NOW)
