"""Ledger paging, the always-present resume cursor, `since`, and the money-moving scenarios."""

from __future__ import annotations

import base64
from datetime import datetime

import httpx
import pytest

from app.democloud import DemoCloud
from tests.conftest import wait_until
from tests.democloud.conftest import all_entries, assert_problem, balance, scenario


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_small_pages_add_up_to_the_whole_ledger(api: httpx.Client) -> None:
    whole = api.get("/v1/ledger", params={"limit": 500}).json()
    assert whole["has_more"] is False
    pages = []
    cursor = None
    while True:
        page = api.get("/v1/ledger", params={"limit": 7, **({"cursor": cursor} if cursor else {})})
        body = page.json()
        assert len(body["entries"]) <= 7
        pages.append(body)
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert all(len(p["entries"]) == 7 for p in pages[:-1])
    walked = [e["id"] for p in pages for e in p["entries"]]
    assert walked == [e["id"] for e in whole["entries"]]
    assert len(set(walked)) == len(walked)


def test_default_limit_is_100(cloud: DemoCloud, api: httpx.Client) -> None:
    scenario(api, "other-booth-spend", feature="sms", count=60)  # 62 seeded + 60 > 100
    first = api.get("/v1/ledger").json()
    assert len(first["entries"]) == 100 and first["has_more"] is True


def test_cursor_resumes_after_the_last_page_and_sees_late_purchases(api: httpx.Client) -> None:
    end = all_entries(api)
    tail = api.get("/v1/ledger", params={"limit": 500}).json()
    cursor = tail["next_cursor"]
    again = api.get("/v1/ledger", params={"cursor": cursor}).json()
    assert again["entries"] == [] and again["has_more"] is False and again["next_cursor"]

    before = balance(api)
    promise = scenario(api, "late-purchase", amount_cents=5000, delay_seconds=0.5)
    assert promise["receipt"].startswith("rcpt_")
    scenario(api, "other-booth-spend", feature="ai_headshot", count=1)  # recorded first
    assert balance(api) == before - 100  # the purchase has not reached the ledger yet

    new = wait_until(
        lambda: (p := api.get("/v1/ledger", params={"cursor": cursor}).json())["entries"][1:] and p,
        timeout=5,
    )
    spend, purchase = new["entries"]
    assert (spend["kind"], purchase["kind"]) == ("ai_run", "purchase")
    assert purchase["receipt"] == promise["receipt"]
    assert purchase["timestamp"] == promise["purchased_at"]
    assert _ts(purchase["timestamp"]) < _ts(spend["timestamp"])  # older, yet recorded later
    assert purchase["balance_after_cents"] == before - 100 + 5000 == balance(api)
    assert len(all_entries(api)) == len(end) + 2
    done = api.get("/v1/ledger", params={"cursor": new["next_cursor"]}).json()
    assert done["entries"] == []


def test_since_filters_by_timestamp(api: httpx.Client) -> None:
    entries = all_entries(api)
    pivot = entries[len(entries) // 2]["timestamp"]
    since = all_entries(api, since=pivot)
    assert since == [e for e in entries if e["timestamp"] >= pivot]
    assert 0 < len(since) < len(entries)
    # An offset other than Z means the same instant.
    moment = _ts(pivot).astimezone().isoformat()
    assert all_entries(api, since=moment) == since


def test_since_then_cursor_does_not_repeat_skipped_entries(api: httpx.Client) -> None:
    entries = all_entries(api)
    page = api.get("/v1/ledger", params={"since": entries[-1]["timestamp"]}).json()
    assert [e["id"] for e in page["entries"]] == [entries[-1]["id"]]
    later = api.get("/v1/ledger", params={"cursor": page["next_cursor"]}).json()
    assert later["entries"] == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"cursor": "not-a-cursor"}, 400, "bad_request"),
        ({"cursor": base64.urlsafe_b64encode(b"refunds:1").decode()}, 400, "bad_request"),
        ({"since": "yesterday"}, 400, "bad_request"),
        ({"since": "2024-01-01T00:00:00"}, 400, "bad_request"),  # no zone: ambiguous
        ({"limit": "abc"}, 400, "bad_request"),
        ({"limit": "0"}, 422, "unprocessable"),
        ({"limit": "501"}, 422, "unprocessable"),
    ],
)
def test_bad_ledger_queries(api: httpx.Client, params: dict, status: int, code: str) -> None:
    assert_problem(api.get("/v1/ledger", params=params), status, code)


def test_renewal_from_credits(cloud: DemoCloud, api: httpx.Client) -> None:
    before = balance(api)
    renews = _ts(api.get("/v1/account").json()["renews_at"])
    result = scenario(api, "renewal-from-credits")
    entry = result["entry"]
    assert entry["kind"] == "subscription_renewal" and entry["amount_cents"] == -5000
    assert "credits" in entry["description"]
    assert balance(api) == before - 5000
    moved = _ts(api.get("/v1/account").json()["renews_at"])
    assert 27 < (moved - renews).days <= 31
    cloud.check_ledger()


def test_other_booth_spend_stops_at_zero(cloud: DemoCloud, api: httpx.Client) -> None:
    before = balance(api)
    result = scenario(api, "other-booth-spend", feature="draw_me", count=200)
    assert result["count"] == before // 150
    assert balance(api) == before - 150 * result["count"] < 150
    entries = all_entries(api)[-result["count"] :]
    assert all(e["feature"] == "draw_me" and e["job_id"] for e in entries)
    job = api.get(f"/v1/jobs/{entries[0]['job_id']}").json()
    assert job["booth_id"] == "booth-2" and job["status"] == "succeeded"
    cloud.check_ledger()


def test_coupon_bonus_now_and_later(cloud: DemoCloud, api: httpx.Client) -> None:
    before = balance(api)
    now = scenario(api, "coupon-bonus", coupon_code="Pro4Free", amount_cents=4000)
    assert now["ledger_entry_id"]
    assert balance(api) == before + 4000
    later = scenario(
        api, "coupon-bonus", coupon_code="Basic2Free", amount_cents=1000, delay_seconds=0.3
    )
    assert later["ledger_entry_id"] is None
    wait_until(lambda: balance(api) == before + 5000, timeout=5)
    bonuses = [e for e in all_entries(api) if e["kind"] == "coupon_bonus"]
    assert [b["coupon_code"] for b in bonuses] == ["Basic2Credits", "Pro4Free", "Basic2Free"]
    cloud.check_ledger()


def test_scheduled_entry_survives_a_restart(cloud: DemoCloud, api: httpx.Client) -> None:
    before = balance(api)
    scenario(api, "late-purchase", amount_cents=2500, delay_seconds=0.5)
    cloud.stop()
    cloud.start()
    with httpx.Client(base_url=cloud.url, headers=api.headers) as client:
        wait_until(lambda: balance(client) == before + 2500, timeout=5)


def test_bad_scenario_input_is_422(api: httpx.Client) -> None:
    response = api.post("/demo/scenarios/other-booth-spend", json={"feature": "magic"})
    assert_problem(response, 422, "unprocessable")
    response = api.post("/demo/scenarios/outage", json={"mode": "meteor"})
    assert_problem(response, 422, "unprocessable")
    assert_problem(api.post("/demo/scenarios/nope", json={}), 404, "not_found")
