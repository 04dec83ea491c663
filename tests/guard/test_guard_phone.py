"""The account guard's notices reach the phone the durable way the monitor's own alerts do:
committed to the alert outbox before they are marked told (and so before the tray shows
them), routed by kind (account traps, plan and grace warnings), and a closed account's says
the restore request in one voice. A real demo cloud and a real Apprise JSON receiver."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.alerts import Alert
from app.gui.support_view import GuardWorker
from app.orchestration.alert_path import AlertPath
from app.orchestration.alert_targets import save_targets
from app.runtime import utc_now
from tests.guard.conftest import scenario
from tests.support.alert_receiver import Receiver


def phone_side(guarded: Any, cloud: Any, receiver: Receiver) -> tuple[Any, AlertPath]:
    g = guarded(cloud.url)
    g.booth.runtime.settings.booth_name = "Booth 1"
    save_targets(g.booth.runtime, [receiver.url])
    return g, AlertPath(g.booth.runtime)


def test_a_closed_account_reaches_the_phone_saying_the_request_was_filed(
        cloud, guarded, receiver, qtbot):
    g, alerts = phone_side(guarded, cloud, receiver)
    g.booth.sync()
    scenario(cloud, "close-account")
    g.booth.sync()
    worker = GuardWorker(lambda: g.path, phone=lambda found: (alerts.take(found, utc_now()),
                                                              alerts.deliver(utc_now())))
    shown: list[Alert] = []
    worker.alert.connect(shown.append)
    worker.cycle()
    closed = [a for a in shown if a.title == "Account closed"]
    assert len(closed) == 1
    assert closed[0].message.startswith("A restore request was filed at ")
    assert "support can often restore credits within days" in closed[0].message
    assert "contact support" not in closed[0].message.lower()
    assert "Booth 1: Account closed" in receiver.titles()
    kinds = {item.key: item.kind for item in alerts.recent()}
    assert kinds[closed[0].key] == "account_trap"
    worker.cycle()  # the next sync: told once, on the phone too
    assert receiver.titles().count("Booth 1: Account closed") == 1


def test_a_plan_reminder_is_in_the_outbox_before_it_is_marked_told(cloud, guarded, receiver):
    g, alerts = phone_side(guarded, cloud, receiver)
    scenario(cloud, "plan-ending", days=6.5)
    report = g.run()

    class Crash(Exception):
        pass

    def commit_then_crash(found: list[Alert]) -> None:
        alerts.take(found, utc_now())
        raise Crash  # killed between the outbox commit and "told"

    with pytest.raises(Crash):
        g.path.new_notices(report.traps, commit=commit_then_crash)
    (queued,) = alerts.recent()
    assert queued.kind == "plan_grace" and queued.title == "6 days left"
    # After the restart the reminder is told (the tray shows it) and the outbox takes the
    # repeat as the same alert: one on the phone.
    told = g.path.new_notices(report.traps, commit=lambda found: alerts.take(found, utc_now()))
    assert [a.title for a in told] == ["6 days left"]
    assert len(alerts.recent()) == 1
    alerts.deliver(utc_now())
    assert receiver.titles() == ["Booth 1: 6 days left"]
