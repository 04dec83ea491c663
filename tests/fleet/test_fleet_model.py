"""The fleet's messages and its view, table by table (no broker)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from app.core.fleet import (
    SILENT_AFTER,
    BoothEvent,
    BoothState,
    FleetModel,
    Topics,
    account_segment,
    decode_state,
    encode_event,
    encode_state,
    event_for_alert,
    fleet_forecast,
    topic_segment,
)
from app.orchestration.fleet_path import FleetStatus

NOW = datetime(2026, 12, 4, 20, 0, tzinfo=timezone.utc)
T = Topics("ops_at_studio.example", "booth-a")


def state(booth: str = "booth-a", seq: int = 1, origin: str = "o1", **kw: object) -> BoothState:
    base: dict[str, object] = dict(name=booth.upper(), sent_at=NOW - timedelta(seconds=30),
                                   balance_cents=12_345, balance_as_of=NOW - timedelta(minutes=2),
                                   link="ok", queued=2, held=1, open_claims=0,
                                   cents_per_hour=600.0, photos_left=40)
    base.update(kw)
    return BoothState(booth=booth, seq=seq, origin=origin, **base)  # type: ignore[arg-type]


def topic(booth: str, kind: str, account: str = T.account) -> str:
    return f"booth-credit-monitor/{account}/{booth}/{kind}"


@pytest.mark.parametrize("raw, segment", [
    ("Booth 1", "Booth_1"), ("a/b+c#d", "a_b_c_d"), ("  ", "unnamed"),
    ("Kabine S%C3%BCd", "Kabine_S_C3_BCd"),
    ("x" * 80, "x" * 64), ("..hidden", "hidden"),
])
def test_names_become_one_safe_topic_level(raw, segment):
    assert topic_segment(raw) == segment


def test_an_account_email_reads_as_itself():
    assert account_segment("Ops@Studio.Example") == "ops_at_studio.example"


@pytest.mark.parametrize("t, parsed", [
    (topic("b2", "state"), ("b2", "state")),
    (topic("b2", "status"), ("b2", "status")),
    (topic("b2", "events"), ("b2", "events")),
    (topic("b2", "state", "other_at_x.example"), None),  # another account
    ("booth-credit-monitor/ops_at_studio.example/b2/state/extra", None),
    ("homeassistant/sensor/x/config", None),
    (topic("b2", "secret"), None),
])
def test_only_this_accounts_topics_are_read(t, parsed):
    assert T.parse(t) == parsed


def test_subscriptions_stay_under_the_account_prefix():
    assert all(s.startswith("booth-credit-monitor/ops_at_studio.example/+/")
               for s in T.subscriptions)


def test_state_round_trips_and_is_small():
    s = state()
    payload = encode_state(s)
    assert decode_state(payload, "booth-a") == s
    assert len(payload) < 300


def test_unknown_fields_are_ignored_and_missing_ones_unknown():
    doc = {"v": 9, "seq": 4, "o": "x", "future": {"nested": 1}, "bal": 100, "link": "warp"}
    got = decode_state(json.dumps(doc).encode(), "b")
    assert got is not None
    assert (got.seq, got.balance_cents, got.link, got.queued, got.balance_as_of, got.name) == (
        4, 100, "unknown", 0, None, "b")


@pytest.mark.parametrize("payload", [b"", b"not json", b"[1,2]", b'{"seq":"1"}', b"\xff\xfe"])
def test_garbage_is_no_state(payload):
    assert decode_state(payload, "b") is None


@pytest.mark.parametrize("messages, seq, duplicates", [
    ([1, 2, 3], 3, 0),
    ([1, 3, 2], 3, 1),  # late copy
    ([2, 2, 2], 2, 2),  # QoS 1 redelivery, retained replay
    ([5, ("new-origin", 1)], 1, 0),  # the booth's store was recreated: believed again
])
def test_sequence_numbers_keep_the_newest_and_count_copies(messages, seq, duplicates):
    model = FleetModel(T)
    for m in messages:
        origin, n = m if isinstance(m, tuple) else ("o1", m)
        model.receive(topic("b", "state"), encode_state(state("b", n, origin)), NOW)
    view = model.view(NOW)
    assert [r.seq for r in view.rows] == [seq]
    assert view.duplicates == duplicates


def test_the_shared_balance_is_shown_once_from_the_freshest_booth():
    model = FleetModel(T)
    model.receive(topic("a", "state"), encode_state(
        state("a", balance_cents=9_000, balance_as_of=NOW - timedelta(minutes=1))), NOW)
    model.receive(topic("b", "state"), encode_state(
        state("b", balance_cents=9_500, balance_as_of=NOW - timedelta(minutes=20))), NOW)
    model.receive(topic("c", "state"), encode_state(
        state("c", balance_cents=None, balance_as_of=None)), NOW)
    view = model.view(NOW)
    assert (view.balance_cents, view.balance_from, view.balance_age_seconds) == (9_000, "a", 60)
    assert [r.booth for r in view.rows] == ["a", "b", "c"]
    assert view.queued == 6 and view.held == 3


@pytest.mark.parametrize("status, sent_ago, online, silent", [
    (b"online", timedelta(seconds=10), True, False),
    (b"offline", timedelta(seconds=10), False, False),
    (None, SILENT_AFTER + timedelta(seconds=1), None, True),
])
def test_rows_say_online_and_how_old_the_last_contact_is(status, sent_ago, online, silent):
    model = FleetModel(T)
    model.receive(topic("a", "state"), encode_state(state("a", sent_at=NOW - sent_ago)), NOW)
    if status:
        model.receive(topic("a", "status"), status, NOW)
    row = model.view(NOW).rows[0]
    assert (row.online, row.silent, row.age_seconds) == (online, silent,
                                                          sent_ago.total_seconds())


def test_statuses_say_who_is_online_since_when_and_who_sends_phone_alerts():
    """What the alert path picks the one sender of the account's alerts from: the status and
    phone topics, received with the Fleet tab closed too (no state needed)."""
    model = FleetModel(T)
    model.receive(topic("a", "status"), b"offline", NOW, retained=True)  # before we looked
    model.receive(topic("b", "status"), b"online", NOW)
    model.receive(topic("b", "phone"), b"on", NOW)
    model.receive(topic("c", "phone"), b"off", NOW)
    model.receive(topic("c", "status"), b"online", NOW)
    later = NOW + timedelta(minutes=1)
    assert model.receive(topic("b", "status"), b"offline", later)
    assert model.statuses() == [("a", False, None, None), ("b", False, later, True),
                                ("c", True, NOW, False)]
    assert model.receive(topic("c", "phone"), b"", later)  # retired: no word any more
    assert model.statuses()[2] == ("c", True, NOW, None)


def test_a_booth_clock_ahead_of_ours_is_not_contact_from_the_future():
    model = FleetModel(T)
    model.receive(topic("a", "state"), encode_state(state("a", sent_at=NOW + timedelta(hours=1))),
                  NOW)
    assert model.view(NOW).rows[0].age_seconds == 0


def test_a_status_alone_makes_a_row():
    model = FleetModel(T)
    assert model.receive(topic("a", "status"), b"offline", NOW)
    assert not model.receive(topic("a", "status"), b"offline", NOW)  # no change
    assert not model.receive(topic("a", "status"), b"maybe", NOW)
    assert [(r.booth, r.online, r.balance_cents) for r in model.view(NOW).rows] == [
        ("a", False, None)]


def test_another_accounts_messages_never_show():
    model = FleetModel(T)
    assert not model.receive(topic("x", "state", "other"), encode_state(state("x")), NOW)
    assert model.view(NOW).rows == [] and model.foreign == 1


def test_events_are_kept_once_each_newest_first():
    model = FleetModel(T)
    for seq in (2, 1, 2, 3, 1):  # 1 re-sent after 2 is still new; the second 1 and 2 are not
        model.receive(topic("a", "events"), encode_event(BoothEvent("a", "photo_held",
                                                                    f"held {seq}", seq, "o1",
                                                                    NOW)), NOW)
    view = model.view(NOW)
    assert [e.seq for e in view.events] == [3, 2, 1] and view.duplicates == 2


@pytest.mark.parametrize("balance, pace, end_in, runs_out_in, before_end", [
    (6_000, 600.0, timedelta(hours=3), timedelta(hours=10), False),
    (600, 600.0, timedelta(hours=3), timedelta(hours=1), True),
    (600, 0.0, timedelta(hours=3), None, False),
])
def test_fleet_forecast_runs_from_the_balances_own_time(balance, pace, end_in, runs_out_in,
                                                        before_end):
    as_of = NOW - timedelta(minutes=1)
    got = fleet_forecast(balance, as_of, pace, 10, NOW, NOW + end_in)
    assert got is not None
    assert got.runs_out_at == (None if runs_out_in is None else as_of + runs_out_in)
    assert got.before_end is before_end


def test_no_pace_no_forecast_and_the_view_carries_it():
    assert fleet_forecast(100, NOW, None, None, NOW, None) is None
    model = FleetModel(T)
    model.receive(topic("a", "state"), encode_state(state("a")), NOW)
    doc = model.view(NOW, event_end=NOW + timedelta(hours=1)).to_json()
    assert doc["forecast"]["cents_per_hour"] == 600.0
    assert doc["booths"][0]["held"] == 1 and doc["balance_from"] == "a"


@pytest.mark.parametrize("key, kind", [
    ("held", "photo_held"), ("refund-filed:cloud:c1,c2", "claim_filed"),
    ("refund-refunded:c1", "claim_paid"), ("paused:credits", "queue_paused"),
    ("stuck", "queue_stuck"), ("low-balance", None), ("offline:sync", None), ("", None),
])
def test_which_alerts_the_fleet_hears_about(key, kind):
    got = event_for_alert(key, "Title", "x" * 300)
    assert (got[0] if got else None) == kind
    assert got is None or len(got[1]) == 200


def test_an_empty_retained_message_removes_a_retired_booth():
    model = FleetModel(T)
    model.receive(topic("old", "state"), encode_state(state("old")), NOW)
    model.receive(topic("old", "status"), b"online", NOW)
    assert model.receive(topic("old", "state"), b"", NOW)
    assert [r.balance_cents for r in model.view(NOW).rows] == [None]  # status still there
    assert model.receive(topic("old", "status"), b"", NOW)
    assert model.view(NOW).rows == []
    assert not model.receive(topic("never", "status"), b"", NOW)


@pytest.mark.parametrize("status, text", [
    (FleetStatus(False), "Fleet view off: no MQTT broker is set in Settings (Fleet)."),
    (FleetStatus(True, "mqtt://b:1883", True), "Connected to mqtt://b:1883."),
    (FleetStatus(True, "mqtt://b:1883", True, waiting=1), "Connected to mqtt://b:1883, 1 message "
     "waiting."),
    (FleetStatus(True, "mqtt://b:1883", False, "refused (no broker listening)", waiting=3),
     "Not connected to mqtt://b:1883 (refused (no broker listening)); 3 messages kept to send "
     "when it is back."),
])
def test_the_connection_line(status, text):
    assert status.text().startswith(text)
