"""Health, auth, problem details, account facts and the seeded demo history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from app.democloud import DemoCloud
from tests.democloud.conftest import (
    OTHER_TOKEN,
    all_entries,
    assert_problem,
    balance,
    running_cloud,
    scenario,
)


def _ts(text: str) -> datetime:
    assert text.endswith("Z")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_health_needs_no_token(cloud: DemoCloud) -> None:
    response = httpx.get(f"{cloud.url}/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["api_version"] == "1"
    assert abs((_ts(body["time"]) - datetime.now(timezone.utc)).total_seconds()) < 5
    assert response.headers["x-request-id"].startswith("req_")


def test_missing_and_wrong_tokens_are_401(cloud: DemoCloud) -> None:
    missing = httpx.get(f"{cloud.url}/v1/balance")
    assert_problem(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.get(f"{cloud.url}/v1/balance", headers={"Authorization": "Bearer nope"})
    assert_problem(wrong, 401, "unauthorized")
    basic = httpx.get(f"{cloud.url}/v1/balance", headers={"Authorization": "Basic ZGVtbw=="})
    assert_problem(basic, 401, "unauthorized")


def test_revoked_token_is_token_expired_until_restore(api: httpx.Client) -> None:
    scenario(api, "revoke-token")
    assert_problem(api.get("/v1/account"), 401, "token_expired")
    state = api.get("/demo/state").json()  # the demo levers keep working
    assert state["token_revoked"] is True
    scenario(api, "restore")
    assert api.get("/v1/account").status_code == 200


def test_request_ids_are_unique_per_response(api: httpx.Client) -> None:
    ids = {api.get("/v1/balance").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_unknown_path_and_wrong_method_are_problems(api: httpx.Client) -> None:
    assert_problem(api.get("/v1/nothing-here"), 404, "not_found")
    wrong = api.delete("/v1/balance")
    assert_problem(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET"


def test_account_is_the_seeded_demo_account(api: httpx.Client) -> None:
    account = api.get("/v1/account").json()
    assert account["email"] == "demo@booth.example"
    assert (account["plan"], account["status"]) == ("basic", "active")
    assert account["primary_payment_method"] == "credits"
    assert account["booths"] == 2
    assert account["dashboard_url"] == "https://cloud.example/billing"
    assert account["expires_at"] is None and account["grace_ends_at"] is None
    days = (_ts(account["renews_at"]) - datetime.now(timezone.utc)) / timedelta(days=1)
    assert 10 < days < 13


def test_features_and_prices(api: httpx.Client) -> None:
    features = api.get("/v1/features").json()["features"]
    assert features == [
        {"id": "background_removal", "label": "Background removal", "price_cents": 25},
        {"id": "ai_headshot", "label": "AI headshot", "price_cents": 100},
        {"id": "draw_me", "label": "Draw Me", "price_cents": 150},
    ]


def test_balance_matches_the_seeded_ledger(api: httpx.Client) -> None:
    body = api.get("/v1/balance").json()
    entries = all_entries(api)
    assert body["currency"] == "USD"
    assert body["balance_cents"] == sum(e["amount_cents"] for e in entries) > 0
    assert body["last_entry_id"] == entries[-1]["id"]
    running = 0
    for entry in entries:
        running += entry["amount_cents"]
        assert entry["balance_after_cents"] == running


def test_seeded_history_tells_the_support_story(api: httpx.Client) -> None:
    entries = all_entries(api)
    now = datetime.now(timezone.utc)
    times = [_ts(e["timestamp"]) for e in entries]
    assert times == sorted(times)
    assert now - timedelta(days=36) < times[0] and times[-1] < now
    purchases = [e for e in entries if e["kind"] == "purchase"]
    assert [p["amount_cents"] for p in purchases] == [10000, 5000]
    assert all(p["receipt"] for p in purchases)
    (renewal,) = [e for e in entries if e["kind"] == "subscription_renewal"]
    assert renewal["amount_cents"] == -5000 and "credits" in renewal["description"]
    (bonus,) = [e for e in entries if e["kind"] == "coupon_bonus"]
    assert (bonus["amount_cents"], bonus["coupon_code"]) == (2000, "Basic2Credits")
    sms = [e for e in entries if e["kind"] == "sms"]
    assert sms and all(e["amount_cents"] == -5 and e["feature"] == "sms" for e in sms)
    runs = [e for e in entries if e["kind"] == "ai_run"]
    prices = {"background_removal": 25, "ai_headshot": 100, "draw_me": 150}
    assert {e["feature"] for e in runs} == set(prices)
    assert all(e["amount_cents"] == -prices[e["feature"]] and e["job_id"] for e in runs)
    assert not [e for e in entries if e["kind"] == "refund"]

    failed = [api.get(f"/v1/jobs/{e['job_id']}").json() for e in runs]
    failed = [job for job in failed if job["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["failure_reason"] == "connection lost mid-upload"
    assert failed[0]["charged_cents"] == 150 and failed[0]["ledger_entry_id"]


def test_seed_is_deterministic(tmp_path: Path) -> None:
    shapes = []
    for name in ("a", "b"):
        with running_cloud(tmp_path / f"{name}.sqlite3") as (_, client):
            shapes.append(
                [(e["id"], e["kind"], e["amount_cents"], e["job_id"]) for e in all_entries(client)]
            )
    assert shapes[0] == shapes[1]
    assert len(shapes[0]) > 40


def test_accounts_are_isolated(cloud: DemoCloud, api: httpx.Client) -> None:
    with httpx.Client(
        base_url=cloud.url, headers={"Authorization": f"Bearer {OTHER_TOKEN}"}
    ) as other:
        assert other.get("/v1/account").json()["email"] == "other@booth.example"
        assert balance(other) == 2000
        demo_job = next(e["job_id"] for e in all_entries(api) if e["job_id"])
        assert_problem(other.get(f"/v1/jobs/{demo_job}"), 404, "not_found")
        assert len(all_entries(other)) == 1


def test_expire_account_then_restore(api: httpx.Client) -> None:
    scenario(api, "expire-account", grace_days=30)
    account = api.get("/v1/account").json()
    assert account["status"] == "expired"
    grace = (_ts(account["grace_ends_at"]) - _ts(account["expires_at"])) / timedelta(days=1)
    assert round(grace) == 30
    scenario(api, "restore")
    assert api.get("/v1/account").json()["status"] == "active"
