"""How far the shared balance goes, and when it runs out at the fleet's pace."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.core.forecast import (
    AutoRecharge,
    default_event_end,
    forecast,
    known_prices,
    photos_left,
    photos_left_text,
)
from app.core.model import EntryKind, LedgerEntry

NOW = datetime(2026, 12, 3, 20, 0, tzinfo=timezone.utc)


def runs(count: int, every_minutes: float, cents: int, feature: str = "draw_me",
         start_minutes_ago: float = 0) -> list[LedgerEntry]:
    return [LedgerEntry(f"le_{feature}_{n}", NOW - timedelta(minutes=start_minutes_ago
                                                               + n * every_minutes),
                        EntryKind.AI_RUN, -cents, 10_000, feature=feature)
            for n in range(count)]


def test_photos_left_follow_the_current_mix():
    mix = runs(4, 5, 150) + runs(4, 5, 25, "background_removal", 1)
    assert photos_left(8750, mix, NOW) == 100  # an average photo costs 87.5 cents
    assert photos_left_text(8750, mix, NOW) == "≈ 100 photos left at the current mix"
    assert photos_left(None, mix, NOW) is None and photos_left(500, [], NOW) is None


def test_the_forecast_moves_with_the_pace_of_spending():
    quiet = forecast(6000, runs(6, 10, 100), NOW)  # $1 every 10 min: $6 an hour
    busy = forecast(6000, runs(6, 2, 100), NOW)  # every 2 min: $30 an hour
    assert quiet and busy
    assert round(quiet.cents_per_hour) == 600 and round(busy.cents_per_hour) == 3000
    assert busy.runs_out_at < quiet.runs_out_at
    assert busy.runs_out_at - NOW == timedelta(hours=2)
    assert "runs out ≈" in busy.text(NOW) and "photos left" in busy.text(NOW)


def test_a_night_that_just_started_rises_with_each_photo_and_a_burst_is_no_hour():
    """$1 every 30 s is $120 an hour: the first minutes count toward it photo by photo (over at
    least five minutes), near it by the fifth; five charges at once do not make an hour's
    pace, and the pace falls as the quiet after them lasts."""
    paces = [forecast(10_000, runs(n, 0.5, 100, start_minutes_ago=0.5), NOW).cents_per_hour
             for n in (2, 4, 6, 10)]
    assert paces == sorted(paces) and round(paces[0]) == 1200 and round(paces[-1]) == 10800
    burst = [forecast(10_000, runs(5, 0, 150, start_minutes_ago=m), NOW).cents_per_hour
             for m in (0, 5, 20)]
    assert [round(p) for p in burst] == [7200, 7200, 1800]


def test_running_out_before_the_event_ends_is_flagged_unless_auto_recharge_is_on():
    pace = runs(6, 2, 100)  # $30 an hour: $60 lasts two hours
    end_soon = NOW + timedelta(hours=1)
    end_late = NOW + timedelta(hours=3)
    assert not forecast(6000, pace, NOW, event_end=end_soon).before_end
    assert forecast(6000, pace, NOW, event_end=end_late).before_end
    topped = forecast(6000, pace, NOW, event_end=end_late,
                      auto_recharge=AutoRecharge(1000, 10000))
    assert topped and not topped.before_end and topped.recharges
    assert topped.runs_out_at - NOW == timedelta(hours=5000 / 3000)  # to the $10 threshold
    assert "auto-recharge at" in topped.text(NOW)


def test_a_quiet_hour_falls_back_to_three_hours_and_no_spend_has_no_end():
    sparse = runs(3, 50, 100)  # one charge every 50 minutes, the first 100 minutes ago
    result = forecast(6000, sparse, NOW)
    assert result and round(result.cents_per_hour) == 120
    idle = forecast(6000, [], NOW)
    assert idle and idle.runs_out_at is None and not idle.before_end


def test_the_event_end_is_the_next_such_local_time():
    end = default_event_end(NOW, "23:30")
    assert end > NOW and end - NOW <= timedelta(days=1)
    assert end.astimezone().strftime("%H:%M") == "23:30"


def test_known_prices_prefer_our_own_charges():
    history = runs(1, 1, 150) + runs(1, 1, 25, "background_removal")
    assert known_prices(history) == {"draw_me": 150, "background_removal": 25}
    assert known_prices(history, [("draw_me", 175)])["draw_me"] == 175


def test_credits_that_will_not_last_the_event_raise_one_lasting_alert():
    from app.core.alerts import forecast_alerts

    pace = runs(6, 2, 100)
    short = forecast(6000, pace, NOW, event_end=NOW + timedelta(hours=3))
    (alert,) = forecast_alerts(short, NOW)
    assert alert.lasting and alert.severity == "critical"
    assert alert.due_at == short.runs_out_at  # the phone's rate limit compares deadlines
    assert "$30.00 an hour" in alert.message
    assert forecast_alerts(forecast(6000, pace, NOW, event_end=NOW + timedelta(hours=1)),
                           NOW) == []


def test_a_night_that_keeps_speeding_up_warns_once_with_the_newest_estimate():
    """The busy-night demo moved the hour it runs out four times and warned four times: the
    alert is keyed by the event, and its words follow the newest estimate."""
    from app.core.alerts import forecast_alerts, fresh_alerts

    end = NOW + timedelta(hours=6)
    shown, active = [], set()
    messages = []
    for every in (10, 6, 4, 3, 2):  # minutes between photos: quickening
        ahead = forecast(2000, runs(12, every, 100), NOW, event_end=end)
        found = forecast_alerts(ahead, NOW)
        new, active = fresh_alerts(found, active)
        shown += new
        messages.append(found[0].message)
    assert len(shown) == 1
    assert len(set(messages)) > 1  # the estimate moved; the listed words follow it
    # Cleared (a top-up lasts the night), then short again: a new warning for the same night.
    new, active = fresh_alerts(forecast_alerts(forecast(10**7, runs(12, 2, 100), NOW,
                                                        event_end=end), NOW), active)
    assert new == [] and active == set()
    new, active = fresh_alerts(forecast_alerts(forecast(2000, runs(12, 2, 100), NOW,
                                                        event_end=end), NOW), active)
    assert len(new) == 1
