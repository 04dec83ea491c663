"""Each money trap, as an operator meets it on the demo: the scenario puts the account into the
trap, one sync later the monitor has found it and filed exactly one request with the facts
support asks for, a restart files nothing again, and the request is followed until settled."""

from __future__ import annotations

import json

import pytest

from app.core.account_guard import TrapKind
from app.core.support_requests import RequestStatus
from tests.conftest import wait_until
from tests.guard.conftest import cloud_requests, cloud_rows, scenario

EMAIL = "demo@booth.example"
FILED = [("lost-purchase", "missing_purchase", {"receipt", "amount_cents", "paid_at"}),
         ("coupon-not-activated", "missing_coupon_bonus", {"coupon_code", "subscription_date"}),
         ("unexplained-deduction", "balance_dispute",
          {"expected_balance_cents", "actual_balance_cents", "noticed_at", "ledger_entry_ids"}),
         ("close-account", "account_restore", set())]


def settled(g, status=RequestStatus.RESOLVED):
    def done():
        g.run()
        return all(r.status is status for r in g.requests())
    wait_until(done, timeout=15, step=0.2)


@pytest.mark.parametrize(("name", "kind", "facts"), FILED, ids=[f[1] for f in FILED])
def test_a_trap_is_filed_once_survives_a_restart_and_is_settled(cloud, guarded, name, kind,
                                                                facts):
    g = guarded(cloud.url)
    g.run()
    assert g.requests() == []  # the seeded account has nothing to ask support about

    scenario(cloud, name)
    report = g.run()
    assert kind in {t.kind.value for t in report.traps}
    (req,) = g.requests()
    assert (req.kind, req.status, req.channel) == (kind, RequestStatus.FILED, "cloud")
    assert req.remote_id and cloud_requests(cloud) == [(kind, "received")]
    assert [n.title for n in report.notices] == ["Support asked"]
    (body,) = [json.loads(b) for (b,) in cloud_rows(cloud, "SELECT body FROM support_requests")]
    assert body["account_email"] == EMAIL and body["booth_name"] == "Booth 1"
    assert facts <= {k for k, v in body.items() if v is not None}

    g.booth.close()  # a restart: the same home, a new runtime
    again = guarded(cloud.url)
    report = again.run()
    assert [r.id for r in again.requests()] == [req.id] and len(cloud_requests(cloud)) == 1
    assert not [n for n in report.notices if n.title == "Support asked"]

    settled(again)
    (done,) = again.requests()
    assert done.resolution and done.resolved_at is not None
    assert cloud_requests(cloud) == [(kind, "resolved")]
    assert kind not in {t.kind.value for t in again.run().traps}  # the trap is gone


def test_the_dispute_names_expected_and_actual_balance_and_the_entries(cloud, guarded):
    g = guarded(cloud.url)
    g.run()
    before = g.booth.runtime.cache.load_cache().balance_cents
    taken = scenario(cloud, "unexplained-deduction", amount_cents=2000)
    g.run()
    (req,) = g.requests()
    assert req.facts["expected_cents"] == before and req.facts["actual_cents"] == before - 2000
    assert [e["id"] for e in req.facts["entries"]] == [taken["id"]]
    assert req.at_risk_cents == 2000 and req.facts["account_email"] == EMAIL
    # The command line has no screen: it files at once, without a screenshot (and says so).
    assert req.screenshot is None and req.hold_until is None
    (body,) = [json.loads(b) for (b,) in cloud_rows(cloud, "SELECT body FROM support_requests")]
    assert {a["filename"] for a in body.get("attachments", [])} == set()  # the demo keeps none
    assert cloud_rows(cloud, "SELECT attachments FROM support_requests") == [(1,)]  # the CSV


def test_a_renewal_from_credits_and_an_ending_plan_are_explained_not_filed(cloud, guarded):
    g = guarded(cloud.url)
    scenario(cloud, "renewal-from-credits")
    scenario(cloud, "plan-ending", days=6.5)
    report = g.run()
    kinds = {t.kind for t in report.traps}
    assert {TrapKind.RENEWAL_FROM_CREDITS, TrapKind.PLAN_ENDING} <= kinds
    ending = next(t for t in report.traps if t.kind is TrapKind.PLAN_ENDING)
    assert ending.title == "6 days left" and "Pay-As-You-Go keeps" in ending.message
    assert g.requests() == [] and cloud_requests(cloud) == []


def test_credits_that_arrive_before_the_request_is_sent_withdraw_it(cloud, guarded):
    g = guarded(cloud.url, refund_channel="email")  # email not set up: nothing can be sent
    scenario(cloud, "coupon-not-activated", coupon_code="Basic2Free", bonus_cents=1500)
    g.run()
    (req,) = g.requests()
    assert req.status is RequestStatus.PENDING
    scenario(cloud, "coupon-bonus", coupon_code="Basic2Free", amount_cents=1500)  # granted
    report = g.run()
    (req,) = g.requests()
    assert req.status is RequestStatus.WITHDRAWN and "before the request was sent" in (
        req.resolution or "")
    assert not report.traps or TrapKind.MISSING_COUPON_BONUS not in {t.kind for t in report.traps}


def test_credits_that_arrive_after_the_request_was_filed_resolve_it(cloud, guarded):
    g = guarded(cloud.url)
    paid = scenario(cloud, "lost-purchase", amount_cents=2500)
    g.run()
    (req,) = g.requests()
    assert req.status is RequestStatus.FILED
    # The purchase reaches the ledger by itself, late, through the cursor: the ledger settles
    # the request even before the cloud's desk answers.
    from app.democloud import ledger  # the demo's own lever for a late entry

    assert cloud.runtime is not None
    with cloud.runtime.db.tx() as conn:
        ledger.record(conn, 1, kind="purchase", amount_cents=2500, receipt=paid["receipt"],
                      timestamp=paid["paid_at"], description="late")
    g.run()
    (req,) = g.requests()
    assert req.status is RequestStatus.RESOLVED and req.credited_entry_id
