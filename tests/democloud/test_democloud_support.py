"""Payments, coupons and support requests (docs/cloud-api.md section 13) on the real demo cloud,
each money trap's scenario and what the demo desk does with the request about it."""

from __future__ import annotations

import base64
import sqlite3
from itertools import pairwise
from typing import Any

import httpx
import pytest

from app.democloud import DemoCloud
from app.democloud.clock import parse_ts
from tests.conftest import wait_until
from tests.democloud.conftest import AUTH, OTHER_TOKEN, all_entries, scenario

EMAIL = "demo@booth.example"


def ask(api: httpx.Client, key: str, **body: Any) -> httpx.Response:
    return api.post("/v1/support-requests", json={"account_email": EMAIL, **body},
                    headers={"Idempotency-Key": key})


def decided(api: httpx.Client, request_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        doc = api.get(f"/v1/support-requests/{request_id}").json()
        return doc if doc["status"] in ("resolved", "rejected") else None
    return wait_until(done, timeout=10)


def test_the_seeded_purchases_and_coupon_are_listed_with_their_entries(api):
    payments = api.get("/v1/payments").json()["payments"]
    entries = {e["id"]: e for e in all_entries(api)}
    assert [p["amount_cents"] for p in payments] == [10000, 5000]
    for pay in payments:
        assert pay["outcome"] == "succeeded"
        assert entries[pay["ledger_entry_id"]]["receipt"] == pay["receipt"]
    (coupon,) = api.get("/v1/coupons").json()["coupons"]
    assert coupon["code"] == "Basic2Credits" and coupon["bonus_cents"] == 2000
    assert entries[coupon["ledger_entry_id"]]["kind"] == "coupon_bonus"


def test_a_late_purchase_is_paid_at_once_and_names_its_entry_when_it_lands(api):
    started = scenario(api, "late-purchase", amount_cents=3000, delay_seconds=0.3)
    (pay,) = api.get("/v1/payments", params={"since": started["purchased_at"]}).json()["payments"]
    assert pay["receipt"] == started["receipt"] and pay["ledger_entry_id"] is None

    def credited() -> str | None:
        return api.get("/v1/payments", params={"since": started["purchased_at"]}
                       ).json()["payments"][0]["ledger_entry_id"]
    entry_id = wait_until(credited)
    assert next(e for e in all_entries(api) if e["id"] == entry_id)["receipt"] == pay["receipt"]


def test_a_lost_purchase_is_credited_by_support_once(api):
    pay = scenario(api, "lost-purchase", amount_cents=5000, paid_seconds_ago=900)
    before = api.get("/v1/balance").json()["balance_cents"]
    body = {"kind": "missing_purchase", "receipt": pay["receipt"], "amount_cents": 5000,
            "paid_at": pay["paid_at"], "message": "Paid, not credited."}
    first = ask(api, "lost-1", **body)
    assert first.status_code == 201 and first.json()["status"] == "received"
    assert ask(api, "lost-1", **body).status_code == 200  # a replay, nothing new
    dup = ask(api, "lost-2", **body)
    assert dup.status_code == 409 and dup.json()["code"] == "duplicate_request"
    assert dup.json()["existing_id"] == first.json()["id"]
    done = decided(api, first.json()["id"])
    assert done["status"] == "resolved"
    assert api.get("/v1/balance").json()["balance_cents"] == before + 5000
    (linked,) = api.get("/v1/payments", params={"since": pay["paid_at"]}).json()["payments"]
    assert linked["ledger_entry_id"] == done["credited_entry_id"]
    entry = next(e for e in all_entries(api) if e["id"] == done["credited_entry_id"])
    assert entry["timestamp"] == pay["paid_at"]  # a late entry, as payment processors send


def test_a_coupon_bonus_is_activated_by_support_and_a_second_ask_is_one_request(api):
    use = scenario(api, "coupon-not-activated", coupon_code="Pro4Free", bonus_cents=4000)
    assert use["ledger_entry_id"] is None
    body = {"kind": "missing_coupon_bonus", "coupon_code": "pro4free",
            "subscription_date": use["applied_at"]}
    first = ask(api, "cpn-1", **body).json()
    assert ask(api, "cpn-2", **body).json()["code"] == "duplicate_request"
    done = decided(api, first["id"])
    assert done["status"] == "resolved"
    coupons = api.get("/v1/coupons", params={"since": use["applied_at"]}).json()["coupons"]
    assert coupons[0]["ledger_entry_id"] == done["credited_entry_id"]


def test_a_dispute_gets_an_unexplained_deduction_back_and_usage_is_not_given_back(api):
    taken = scenario(api, "unexplained-deduction", amount_cents=2000)
    run = next(e for e in all_entries(api) if e["kind"] == "ai_run")
    body = {"kind": "balance_dispute", "expected_balance_cents": taken["balance_after_cents"]
            + 2000, "actual_balance_cents": taken["balance_after_cents"],
            "noticed_at": taken["timestamp"], "ledger_entry_ids": [taken["id"]],
            "attachments": [{"filename": "balance.png", "content_type": "image/png",
                             "data_base64": base64.b64encode(b"\x89PNG" * 40000).decode()}]}
    created = ask(api, "disp-1", **body)  # about 210 KB: over the 64 KiB of other routes
    assert created.status_code == 201 and created.json()["attachments"] == 1
    done = decided(api, created.json()["id"])
    assert done["status"] == "resolved"
    assert api.get("/v1/balance").json()["balance_cents"] == taken["balance_after_cents"] + 2000
    again = decided(api, ask(api, "disp-2", **{**body, "ledger_entry_ids": [taken["id"],
                                                                          run["id"]]}).json()["id"])
    assert again["status"] == "rejected" and again["credited_entry_id"] is None


def test_a_closed_account_is_reopened_under_pay_as_you_go_with_its_credits(api):
    before = api.get("/v1/balance").json()["balance_cents"]
    closed = scenario(api, "close-account")
    assert closed["status"] == "closed" and api.get("/v1/balance").json()["balance_cents"] == 0
    done = decided(api, ask(api, "restore-1", kind="account_restore").json()["id"])
    assert done["status"] == "resolved"
    account = api.get("/v1/account").json()
    assert (account["status"], account["plan"]) == ("active", "pay_as_you_go")
    assert api.get("/v1/balance").json()["balance_cents"] == before
    late = decided(api, ask(api, "restore-2", kind="account_restore").json()["id"])
    assert late["status"] == "rejected"  # nothing left to restore


def test_a_plan_set_to_end_counts_down_and_restore_renews_it(api):
    ending = scenario(api, "plan-ending", days=6.5)
    assert ending["renews_at"] is None and ending["expires_at"] is not None
    state = scenario(api, "restore")
    assert state["account_status"] == "active"
    account = api.get("/v1/account").json()
    assert account["renews_at"] is not None and account["expires_at"] is None


def test_refunds_are_one_kind_of_support_request(api):
    run = next(e for e in all_entries(api) if e["kind"] == "ai_run")
    created = ask(api, "ref-1", kind="refund", ledger_entry_id=run["id"],
                  feature=run["feature"], amount_cents=-run["amount_cents"],
                  charged_at=run["timestamp"], reason="no result").json()
    assert created["refund_request_id"].startswith("rr_")
    assert api.get(f"/v1/refund-requests/{created['refund_request_id']}").status_code == 200
    assert decided(api, created["id"])["status"] == "rejected"  # the job delivered


def test_bad_requests_and_other_accounts(cloud: DemoCloud, api):
    assert ask(api, "bad-1", kind="missing_purchase").status_code == 422
    assert ask(api, "bad-2", kind="balance_dispute", expected_balance_cents=1,
               actual_balance_cents=0, noticed_at="2025-01-01T00:00:00Z",
               attachments=[{"filename": "x", "content_type": "image/png",
                             "data_base64": "not base64!"}]).status_code == 422
    assert api.post("/v1/support-requests", json={"kind": "account_restore",
                                                  "account_email": EMAIL}).status_code == 400
    mine = ask(api, "iso-1", kind="account_restore").json()
    with httpx.Client(base_url=cloud.url, headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
                      timeout=10) as other:
        assert other.get(f"/v1/support-requests/{mine['id']}").status_code == 404
        assert other.get("/v1/payments").json()["payments"][0]["amount_cents"] == 2000


def test_a_database_from_before_the_payment_routes_gets_them_at_start(tmp_path):
    db = tmp_path / "old.sqlite3"
    with DemoCloud(db):
        pass
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM payments")
    conn.execute("DELETE FROM coupon_uses")
    conn.commit()
    conn.close()
    with DemoCloud(db) as demo, httpx.Client(base_url=demo.url, headers=AUTH) as api:
        assert len(api.get("/v1/payments").json()["payments"]) == 2
        assert len(api.get("/v1/coupons").json()["coupons"]) == 1
    with DemoCloud(db) as demo, httpx.Client(base_url=demo.url, headers=AUTH) as api:
        assert len(api.get("/v1/payments").json()["payments"]) == 2  # not twice


def test_a_busy_night_spends_photo_by_photo_faster_and_faster_and_pauses_at_zero(api):
    """Spread over time, not one burst: each charge lands when due, the gaps shrink, the
    balance never goes below zero, and restore ends what is left of the night."""
    before = {e["id"] for e in all_entries(api)}
    started = scenario(api, "busy-night", photos=6, every_seconds=0.6,
                       final_every_seconds=0.2, feature="draw_me")
    assert started["ends_in_seconds"] == pytest.approx(2.4)

    def night() -> list[dict[str, Any]]:
        return [e for e in all_entries(api) if e["id"] not in before]
    assert len(night()) < 6  # not all at once
    charges = wait_until(lambda: night() if len(night()) == 6 else None, timeout=10)
    assert {(e["kind"], e["feature"], e["amount_cents"]) for e in charges} == {
        ("ai_run", "draw_me", -150)}
    assert all(e["job_id"] for e in charges)
    stamps = [parse_ts(e["timestamp"]) for e in charges]
    gaps = [(b - a).total_seconds() for a, b in pairwise(stamps)]
    assert gaps == sorted(gaps, reverse=True) and gaps[0] > gaps[-1]

    # A night longer than the balance: the other booth pauses at zero; restore ends it.
    balance = api.get("/v1/balance").json()["balance_cents"]
    scenario(api, "busy-night", photos=balance // 150 + 5, every_seconds=0.1,
             final_every_seconds=0.1, feature="draw_me")
    wait_until(lambda: api.get("/v1/balance").json()["balance_cents"] < 150, timeout=60)
    assert api.get("/v1/balance").json()["balance_cents"] >= 0
    scenario(api, "busy-night", photos=50, every_seconds=5)
    assert scenario(api, "restore")["scheduled_entries"] == 0
