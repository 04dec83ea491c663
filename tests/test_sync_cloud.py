"""The cache against the real demo cloud over HTTP on loopback, with a real SQLite file."""

from __future__ import annotations

import httpx
import pytest

from app.core.conditions import Condition, assess
from app.core.errors import AuthFailed, CaptivePortal, CloudUnavailable, CloudUnreachable
from app.runtime import Options, Runtime
from tests.conftest import wait_until

TOKEN = "demo-token"


def cloud_get(cloud, path, **params):
    return httpx.get(f"{cloud.url}{path}", params=params,
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()


def scenario(cloud, name, **payload):
    response = httpx.post(f"{cloud.url}/demo/scenarios/{name}", json=payload,
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert response.status_code < 300, response.text
    return response.json()


def all_entry_ids(cloud) -> list[str]:
    ids, cursor = [], None
    while True:
        page = cloud_get(cloud, "/v1/ledger", **({"cursor": cursor} if cursor else {}))
        ids += [e["id"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return ids


@pytest.fixture
def runtime_for(home, memory_keyring):
    made = []

    def make(url: str, token=TOKEN) -> Runtime:
        runtime = Runtime(Options(home=str(home), cloud_url=url))
        runtime.secrets.set_token(runtime.cloud_url, token)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close()


def test_refresh_caches_balance_account_and_whole_history(demo_cloud, runtime_for):
    runtime = runtime_for(demo_cloud.url)
    outcome = runtime.refresh()
    assert outcome.ok, outcome.error
    view = runtime.view()
    assert view.balance_cents == cloud_get(demo_cloud, "/v1/balance")["balance_cents"]
    assert view.account_email == cloud_get(demo_cloud, "/v1/account")["email"]
    assert not view.stale and view.age_seconds is not None and view.age_seconds < 60
    assert runtime.cache.entry_count() == len(all_entry_ids(demo_cloud)) > 5
    assert {e.kind.value for e in runtime.cache.recent_entries(500)} >= {
        "purchase", "ai_run", "sms", "subscription_renewal", "coupon_bonus"}


def test_second_refresh_fetches_only_what_is_new(demo_cloud, runtime_for):
    runtime = runtime_for(demo_cloud.url)
    runtime.refresh()
    before = runtime.cache.entry_count()
    assert runtime.refresh().new_entries == []
    scenario(demo_cloud, "other-booth-spend", feature="draw_me", count=3)
    outcome = runtime.refresh()
    assert [e.kind.value for e in outcome.new_entries] == ["ai_run"] * 3
    assert runtime.cache.entry_count() == before + 3
    assert runtime.view().balance_cents == cloud_get(demo_cloud, "/v1/balance")["balance_cents"]


def test_late_purchase_recorded_after_the_cursor_still_arrives(demo_cloud, runtime_for):
    runtime = runtime_for(demo_cloud.url)
    runtime.refresh()
    scenario(demo_cloud, "late-purchase", amount_cents=5000, delay_seconds=1)
    purchases = lambda: [e for e in runtime.refresh().new_entries  # noqa: E731
                         if e.kind.value == "purchase"]
    late = wait_until(purchases, timeout=10, step=0.2)
    assert late[0].amount_cents == 5000


def test_cache_survives_restart_and_outage(demo_cloud, runtime_for, home):
    url = demo_cloud.url
    first = runtime_for(url)
    assert first.refresh().ok
    balance = first.view().balance_cents
    first.close()
    demo_cloud.stop()

    second = runtime_for(url)
    assert second.view().balance_cents == balance  # straight from the SQLite file
    outcome = second.refresh()
    assert isinstance(outcome.error, CloudUnreachable)
    view = second.view()
    assert view.balance_cents == balance
    assert view.stale and view.offline
    assert "connect" in (view.last_error or "").lower()
    assert assess(view, view.as_of).worst is Condition.OFFLINE


def test_wrong_token_is_an_auth_problem_the_operator_must_fix(demo_cloud, runtime_for):
    runtime = runtime_for(demo_cloud.url, token="not-the-token")
    outcome = runtime.refresh()
    assert isinstance(outcome.error, AuthFailed)
    assert "not-the-token" not in str(outcome.error)
    view = runtime.view()
    assert view.error_kind == "auth"
    assert assess(view, view.failing_since).worst is Condition.NEEDS_ATTENTION


def test_revoked_token_says_expired(demo_cloud, runtime_for):
    runtime = runtime_for(demo_cloud.url)
    scenario(demo_cloud, "revoke-token")
    error = runtime.refresh().error
    assert isinstance(error, AuthFailed) and "expired" in error.message


def test_captive_portal_is_offline_not_data(demo_cloud, runtime_for):
    runtime = runtime_for(demo_cloud.url)
    assert runtime.refresh().ok
    balance = runtime.view().balance_cents
    scenario(demo_cloud, "outage", mode="captive_portal", seconds=0)
    outcome = runtime.refresh()
    assert isinstance(outcome.error, CaptivePortal)
    view = runtime.view()
    assert view.offline and view.error_kind == "captive_portal"
    assert view.balance_cents == balance


def test_503_carries_retry_after(demo_cloud, runtime_for):
    runtime = runtime_for(demo_cloud.url)
    scenario(demo_cloud, "outage", mode="503", seconds=0)
    error = runtime.refresh().error
    assert isinstance(error, CloudUnavailable) and error.retry_after is not None
    scenario(demo_cloud, "restore")
    assert runtime.refresh().ok
