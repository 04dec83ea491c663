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
