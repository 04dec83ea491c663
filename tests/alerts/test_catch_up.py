"""A claim settled in the store whose phone copy a crash lost (killed between the refund
cycle's commit and the outbox's take) still reaches the phone, once; old outcomes do not."""

from __future__ import annotations

from datetime import timedelta

from app.adapters.store.refunds_repo import RefundsRepo
from app.core.refunds import Claim, ClaimStatus, Rule
from app.orchestration.alert_path import AlertPath
from app.runtime import utc_now


def refunded(runtime, n: int, ago: timedelta) -> None:
    now = utc_now()
    repo = RefundsRepo(runtime.db)
    repo.add([Claim(id=f"rc-{n}", ledger_entry_id=f"le_{n}", rule=Rule.FAILED_AFTER_CHARGE,
                    feature="draw_me", amount_cents=150, charged_at=now - ago,
                    reason="failed", idempotency_key=f"k{n}", created_at=now - ago)])
    assert repo.move(f"rc-{n}", ClaimStatus.REFUNDED, now - ago, refunded_cents=150)


def test_a_refund_committed_before_a_crash_reaches_the_phone_once(path: AlertPath, receiver,
                                                                   runtime):
    refunded(runtime, 1, timedelta(minutes=1))  # committed; the process died before take()
    refunded(runtime, 2, timedelta(hours=3))  # history: not news after a restart
    assert "new" in path.catch_up(utc_now())
    path.deliver(utc_now())
    assert receiver.titles() == ["Booth A: Credits refunded"]
    assert path.catch_up(utc_now()) == []  # seen: at most once
    path.deliver(utc_now())
    assert len(receiver.received) == 1


def test_a_notice_the_outbox_already_has_is_not_caught_up_again(path: AlertPath, receiver,
                                                                 runtime):
    from app.core.refund_filing import refunded_alert

    refunded(runtime, 3, timedelta(minutes=1))
    (claim,) = RefundsRepo(runtime.db).claims([ClaimStatus.REFUNDED])
    path.take([refunded_alert(claim)], utc_now())  # the signal's way, before any crash
    path.deliver(utc_now())
    # Later than the outbox's own repeat window: only the catch-up's "seen" keeps it single.
    assert path.catch_up(utc_now() + timedelta(minutes=45)) == []
    assert len(receiver.received) == 1


def test_an_email_filing_is_caught_up_as_the_live_notice_names_it(path: AlertPath, receiver,
                                                                  runtime):
    """Two claims in one email: the catch-up rebuilds that message's notice (same claims, same
    recipient, same key), so with the live one taken it adds nothing, and without it tells it."""
    from app.core.refund_filing import Channel, filed_alert

    runtime.settings.alert_routes = {"claim_filed": {"to": "both"}}
    now = utc_now()
    repo = RefundsRepo(runtime.db)
    repo.add([Claim(id=f"rc-{n}", ledger_entry_id=f"le_{n}", rule=Rule.FAILED_AFTER_CHARGE,
                    feature="draw_me", amount_cents=150, charged_at=now, reason="failed",
                    idempotency_key=f"k{n}", created_at=now) for n in (1, 2)])
    repo.ensure_filings(["email"], now)
    assert repo.mail.open_message("<m1@x>", "help@vendor.example", b"raw", ["rc-1", "rc-2"],
                                  "me", now, 60)
    filed = repo.mail.message_sent("<m1@x>", "me", now)  # committed; the take never came
    live = filed_alert(filed, Channel.EMAIL, "help@vendor.example")
    assert "new" in path.catch_up(utc_now())
    path.deliver(utc_now())
    assert receiver.titles() == ["Booth A: Refund requested"]
    assert receiver.received[0]["message"].startswith(live.message)
    assert path.take([live], utc_now()) == ["repeat"]  # the same key: one alert
    assert path.catch_up(utc_now()) == []


def test_filings_older_than_the_catch_up_are_history(path: AlertPath, runtime):
    runtime.settings.alert_routes = {"claim_filed": {"to": "both"}}
    now = utc_now()
    repo = RefundsRepo(runtime.db)
    repo.add([Claim(id="rc-9", ledger_entry_id="le_9", rule=Rule.FAILED_AFTER_CHARGE,
                    feature="draw_me", amount_cents=150, charged_at=now, reason="failed",
                    idempotency_key="k9", created_at=now)])
    repo.ensure_filings(["email"], now)
    assert repo.mail.open_message("<m9@x>", "help@vendor.example", b"raw", ["rc-9"], "me",
                                  now - timedelta(hours=3), 60)
    assert repo.mail.message_sent("<m9@x>", "me", now - timedelta(hours=3))
    assert path.catch_up(now) == []
