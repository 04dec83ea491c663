"""The monitor's own alerts through the outbox: exactly one "link down" and one "link back"
per outage on the phone, however often the monitor looks, also when the alert service was
unreachable through the same outage (the whole venue link down); and the forecast's warning."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.model import (
    Account,
    AccountStatus,
    Balance,
    EntryKind,
    LedgerEntry,
    PaymentMethod,
    Plan,
)
from app.orchestration.alert_path import raise_alerts
from app.runtime import utc_now

LOOKS = 5  # the monitor looks after every sync and between them


def look(path, now) -> None:
    for _ in range(LOOKS):
        raise_alerts(path.runtime, path, [], now)
        path.deliver(now)


@pytest.mark.parametrize("service_down_too", [False, True])
def test_one_link_down_and_one_link_back_per_outage(path, receiver, service_down_too):
    cache = path.runtime.cache
    now = utc_now()
    cache.record_contact(now - timedelta(minutes=10), "sync")
    look(path, now)
    assert receiver.titles() == []
    for outage in range(2):
        start = now + timedelta(minutes=20 * outage)
        if service_down_too:
            receiver.stop()
        cache.record_contact(start, "sync", "offline", "No route to the cloud.")
        look(path, start + timedelta(seconds=30))  # shorter than the notice's minute: nothing
        look(path, start + timedelta(minutes=2))
        if service_down_too:
            receiver.start()
        cache.record_contact(start + timedelta(minutes=5), "sync")
        look(path, start + timedelta(minutes=5))
    down, back = "Booth A: Cloud unreachable", "Booth A: Cloud reachable again"
    if service_down_too:  # the outage's record comes late, before the "back" that ends it
        down = f"Late — {down}"
    assert receiver.titles() == [down, back, down, back]
    assert "after 5 min" in receiver.received[1]["message"]


def test_credits_that_run_out_before_the_event_ends_reach_the_phone(path, receiver):
    now = utc_now()
    runtime = path.runtime
    runtime.settings.event_ends_at = (now + timedelta(hours=3)).astimezone().strftime("%H:%M")
    account = Account("ops@example.com", Plan.PRO, AccountStatus.ACTIVE, PaymentMethod.CARD,
                      None, None, None)
    runtime.cache.commit_sync(account, Balance(3000, now), now)
    # $1 every 2 minutes: $30 an hour, so the $30 left lasts one hour of the three.
    runtime.cache.commit_ledger_page(
        [LedgerEntry(f"le_{n}", now - timedelta(minutes=2 * n), EntryKind.AI_RUN, -100,
                     3000 + 100 * n, feature="draw_me") for n in range(8)], "c1")
    runtime.cache.record_contact(now, "sync")
    look(path, now)
    assert receiver.titles() == ["Booth A: Credits run out before the event ends"]
    assert receiver.received[0]["type"] == "failure"  # critical


def test_a_locked_keyring_queues_the_alert_and_never_stops_the_tray(path, receiver,
                                                                   memory_keyring):
    cache = path.runtime.cache
    now = utc_now()
    memory_keyring.locked = True  # the URLs cannot be read: the outbox still takes it
    cache.record_contact(now - timedelta(minutes=2), "sync", "offline", "No route.")
    shown = raise_alerts(path.runtime, path, [], now)
    assert "Cloud unreachable" in [a.title for a in shown]  # the tray hears of it
    report = path.deliver(now)
    assert report.waiting == 1 and "keyring" in report.problems
    memory_keyring.locked = False
    path.settings_changed()
    assert len(path.deliver(now).sent) == 1
    assert receiver.titles() == ["Booth A: Cloud unreachable"]
