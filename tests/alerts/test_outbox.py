"""The outbox end to end with Apprise's JSON webhook and a real receiver on loopback: routing,
the rate limit, an outage of the alert service, a condition that clears meanwhile, and the
monitor's own link-down / link-back alerts once per outage."""

from __future__ import annotations

from datetime import timedelta

from app.core.alerts import Alert
from app.runtime import utc_now
from tests.support.alert_receiver import SECRET_TOPIC

LOW = Alert("low-balance:2000", "Credits running low", "$12.00 left.", "warning", lasting=True)


def states(path) -> list[str]:
    return [a.shown_state for a in reversed(path.recent())]


def test_an_alert_reaches_the_phone_once_with_the_booth_name(path, receiver):
    now = utc_now()
    assert path.take([LOW], now) == ["new"]
    path.runtime.cache.set_active_alert_keys({LOW.key})
    report = path.deliver(now)
    assert len(report.sent) == 1 and report.waiting == 0
    assert receiver.titles() == ["Booth A: Credits running low"]
    assert receiver.received[0]["path"] == f"/{SECRET_TOPIC}"
    assert receiver.received[0]["type"] == "warning"
    assert path.deliver(now).sent == []  # nothing sent twice
    assert states(path) == ["sent"]


def test_tray_only_kinds_and_problems_never_reach_the_phone(path, receiver):
    filed = Alert("refund-filed:cloud:c1", "Refund requested", "1 job.", "info")
    assert path.take([filed, Alert("", "Settings not saved", "Disk full.")], utc_now()) == []
    assert path.recent() == []


def test_the_rate_limit_drops_a_second_alert_of_a_kind_and_says_so(path, receiver):
    now = utc_now()
    other = Alert("low-balance:1500", "Credits running low", "$9.00 left.", lasting=True)
    assert path.take([LOW], now) == ["new"]
    assert path.take([LOW], now + timedelta(minutes=1)) == ["repeat"]  # same one: no row
    assert path.take([other], now + timedelta(minutes=5)) == ["rate_limited"]
    path.runtime.cache.set_active_alert_keys({LOW.key, other.key})
    path.deliver(now + timedelta(minutes=5))
    assert len(receiver.received) == 1
    assert states(path) == ["late", "dropped"]
    assert path.recent()[0].reason == "rate limit"
    # ... and after the gap the same kind comes through again.
    assert path.take([other], now + timedelta(minutes=40)) == ["new"]


def test_an_outage_of_the_service_then_its_return_delivers_once_marked_late(path, receiver):
    now = utc_now()
    down = Alert("offline:2026-05-01T19:00:00Z", "Cloud unreachable", "No contact.",
                 lasting=True)
    path.take([down], now)
    receiver.stop()
    report = path.deliver(now)
    assert report.sent == [] and report.waiting == 1
    (problem,) = report.problems.values()
    assert problem.startswith("JSON address 1 could not be reached")
    assert SECRET_TOPIC not in problem and "127.0.0.1" not in problem
    assert path.deliver(now).waiting == 1  # still refused: still waiting, nothing lost
    receiver.start()
    # The outage ended meanwhile: link_down is sent anyway (late), it is the outage's record.
    later = now + timedelta(minutes=10)
    assert len(path.deliver(later).sent) == 1
    assert receiver.titles() == ["Late — Booth A: Cloud unreachable"]
    assert "could not be sent earlier" in receiver.received[0]["message"]
    assert path.deliver(later).sent == [] and len(receiver.received) == 1
    (row,) = path.recent()
    assert row.shown_state == "late" and row.tries == 2 and SECRET_TOPIC not in row.last_error


def test_a_condition_that_cleared_before_the_link_returned_is_dropped(path, receiver):
    now = utc_now()
    path.take([LOW], now)
    path.runtime.cache.set_active_alert_keys({LOW.key})
    receiver.stop()
    path.deliver(now)
    path.runtime.cache.set_active_alert_keys(set())  # credits bought meanwhile
    receiver.start()
    assert path.deliver(now + timedelta(minutes=5)).dropped != []
    assert receiver.received == []
    (row,) = path.recent()
    assert row.shown_state == "dropped" and "cleared" in row.reason


def test_a_service_that_answers_500_keeps_the_alert_waiting(path, receiver):
    receiver.status = 500
    path.take([LOW], utc_now())
    path.runtime.cache.set_active_alert_keys({LOW.key})
    report = path.deliver(utc_now())
    assert report.waiting == 1 and report.problems
    receiver.status = 200
    assert len(path.deliver(utc_now()).sent) == 1 and len(receiver.received) == 1


def test_the_phone_hears_of_an_outage_as_a_pair_or_not_at_all(path, receiver):
    now = utc_now()
    since = "2026-05-01T19:00:00Z"
    down = Alert(f"offline:{since}", "Cloud unreachable", "No contact.", lasting=True)
    back = Alert(f"online:{since}", "Cloud reachable again", "Back after 5 min.", "info")
    runtime = path.runtime
    runtime.settings.alert_routes = {"link_down": {"to": "tray"}}
    assert path.take([down], now) == []  # the tray's only
    runtime.settings.alert_routes = {}
    assert path.take([back], now) == ["unpaired"]  # no "back" without its "down"
    assert path.recent() == []
    again = Alert("offline:2026-05-01T20:00:00Z", "Cloud unreachable", "No contact.",
                  lasting=True)
    assert path.take([again], now) == ["new"]
    assert path.take([Alert("online:2026-05-01T20:00:00Z", "Cloud reachable again", "Back.",
                            "info")], now) == ["new"]
    path.deliver(now)
    assert receiver.titles() == ["Booth A: Cloud unreachable", "Booth A: Cloud reachable again"]


def runs_out(at, now) -> Alert:
    """A forecast alert as forecast_alerts raises it: keyed by the hour it runs out."""
    return Alert(f"runs-out:{at.astimezone():%Y-%m-%dT%H}", "Credits run out before the event "
                 "ends", f"The balance lasts until about {at.astimezone():%H:%M}.", "critical",
                 lasting=True, due_at=at)


def test_a_forecast_that_runs_out_twice_as_soon_gets_through_the_rate_limit(path, receiver):
    # The operator run (docs/fleet.md): a busy night speeding up moved the forecast from 22:44
    # to 19:58 within two minutes, and the phone, rate-limited, kept the 22:44 for an hour.
    now = utc_now().replace(minute=10, second=0, microsecond=0)
    first = runs_out(now + timedelta(hours=3, minutes=24), now)
    assert path.take([first], now) == ["new"]
    # Somewhat sooner (2 h 14 min left of 3 h 23 min): the rate limit still holds it back.
    later = now + timedelta(minutes=1)
    assert path.take([runs_out(later + timedelta(hours=2, minutes=14), later)],
                     later) == ["rate_limited"]
    # At most half the time left that the phone was told: that is news.
    later = now + timedelta(minutes=2)
    sooner = runs_out(later + timedelta(minutes=37), later)
    assert path.take([sooner], later) == ["new"]
    path.runtime.cache.set_active_alert_keys({first.key, sooner.key})
    path.deliver(later)
    assert [r["message"].split("\n")[0] for r in receiver.received] == [
        first.message, sooner.message]
    assert states(path) == ["sent", "dropped", "sent"]


def test_raise_alerts_tells_a_twice_as_near_run_out_once_more_under_the_event_key(
        path, receiver, monkeypatch):
    """The forecast alert is keyed by the event night, so the tray is not told again each
    time the hour moves; but a deadline twice as near is news for the tray and the phone."""
    import app.orchestration.alert_path as alert_path
    from app.core.alerts import forecast_alerts
    from app.core.forecast import Forecast

    start = utc_now()
    event = start + timedelta(hours=6)
    run_out = [start + timedelta(hours=3, minutes=24)]

    def alerts_now(runtime, new_entries, now):
        forecast = Forecast(photos_left=100, runs_out_at=run_out[0], cents_per_hour=3000,
                            event_end=event, before_end=True, recharges=False)
        return forecast_alerts(forecast, now)

    monkeypatch.setattr(alert_path, "current_alerts", alerts_now)
    told = [a.title for a in alert_path.raise_alerts(path.runtime, path, [], start)]
    assert told == ["Credits run out before the event ends"]
    run_out[0] = start + timedelta(hours=2, minutes=30)  # sooner, not twice as near
    assert alert_path.raise_alerts(path.runtime, path, [], start + timedelta(minutes=1)) == []
    later = start + timedelta(minutes=2)
    run_out[0] = later + timedelta(minutes=50)  # at most half of the 3 h 22 min announced
    sooner = alert_path.raise_alerts(path.runtime, path, [], later)
    assert [a.title for a in sooner] == [
        "Credits run out before the event ends — sooner than said"]
    assert alert_path.raise_alerts(path.runtime, path, [], later + timedelta(minutes=1)) == []
    path.deliver(later)
    assert len(receiver.received) == 2
