"""Refund requests: filing, idempotency, duplicate claims, paging and the demo's decisions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.democloud import DemoCloud
from tests.conftest import wait_until
from tests.democloud.conftest import all_entries, assert_problem, balance
from tests.democloud.test_democloud_jobs import finished, submit


def failed_charge(client: httpx.Client) -> dict[str, Any]:
    """The seeded charge whose job failed."""
    for entry in reversed(all_entries(client)):
        if entry["kind"] == "ai_run":
            job = client.get(f"/v1/jobs/{entry['job_id']}").json()
            if job["status"] == "failed":
                return entry
    raise AssertionError("the seed has no failed job")


def claim(entry: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "ledger_entry_id": entry["id"],
        "job_id": entry["job_id"],
        "feature": entry["feature"],
        "amount_cents": -entry["amount_cents"],
        "charged_at": entry["timestamp"],
        "submitted_at": entry["timestamp"],
        "failed_at": None,
        "reason": "AI job failed after the charge; no result was delivered.",
        "account_email": "demo@booth.example",
        "booth_name": "Booth 1",
        "details": None,
    }
    body.update(changes)
    return body


def file(client: httpx.Client, key: str, body: dict[str, Any]) -> httpx.Response:
    return client.post("/v1/refund-requests", json=body, headers={"Idempotency-Key": key})


def settled(client: httpx.Client, request_id: str) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (r := client.get(f"/v1/refund-requests/{request_id}").json())["status"]
            in ("refunded", "rejected")
            and r
        ),
        timeout=10,
    )


def test_failed_job_is_refunded_with_a_ledger_entry(cloud: DemoCloud, api: httpx.Client) -> None:
    entry = failed_charge(api)
    before = balance(api)
    created = file(api, "refund-1", claim(entry))
    assert created.status_code == 201
    request = created.json()
    assert request["status"] == "received"
    assert request["ledger_entry_id"] == entry["id"] and request["job_id"] == entry["job_id"]
    assert request["amount_cents"] == 150 and request["refund_entry_id"] is None
    assert created.headers["location"] == f"/v1/refund-requests/{request['id']}"

    done = settled(api, request["id"])
    assert done["status"] == "refunded" and done["resolution"]
    refund = next(e for e in all_entries(api) if e["id"] == done["refund_entry_id"])
    assert refund["kind"] == "refund" and refund["amount_cents"] == 150
    assert refund["refund_request_id"] == request["id"]
    assert refund["job_id"] == entry["job_id"]
    assert balance(api) == before + 150
    cloud.check_ledger()


def test_request_passes_through_under_review(tmp_path: Any) -> None:
    from tests.democloud.conftest import running_cloud

    with running_cloud(tmp_path / "r.sqlite3", refund_seconds=1.0) as (_, client):
        request = file(client, "slow-review", claim(failed_charge(client))).json()
        wait_until(
            lambda: (
                client.get(f"/v1/refund-requests/{request['id']}").json()["status"]
                == "under_review"
            ),
            timeout=5,
        )
        assert settled(client, request["id"])["status"] == "refunded"


def test_succeeded_job_is_rejected(api: httpx.Client) -> None:
    job = submit(api, "fine-job", feature="ai_headshot").json()
    done = finished(api, job["id"])
    entry = next(e for e in all_entries(api) if e["id"] == done["ledger_entry_id"])
    before = balance(api)
    request = file(api, "greedy", claim(entry)).json()
    result = settled(api, request["id"])
    assert result["status"] == "rejected"
    assert "completed" in result["resolution"] and result["refund_entry_id"] is None
    assert balance(api) == before


def test_replay_conflict_and_duplicate_claim(api: httpx.Client) -> None:
    entry = failed_charge(api)
    first = file(api, "key-a", claim(entry))
    replay = file(api, "key-a", claim(entry))
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json()["id"] == first.json()["id"]
    changed = file(api, "key-a", claim(entry, reason="different words"))
    assert_problem(changed, 409, "idempotency_conflict")
    duplicate = assert_problem(file(api, "key-b", claim(entry)), 409, "duplicate_claim")
    assert duplicate["existing_id"] == first.json()["id"]
    settled(api, first.json()["id"])
    assert len([e for e in all_entries(api) if e["kind"] == "refund"]) == 1


def test_list_and_get(api: httpx.Client) -> None:
    entries = [e for e in all_entries(api) if e["kind"] in ("ai_run", "sms")][:3]
    ids = [file(api, f"list-{n}", claim(e)).json()["id"] for n, e in enumerate(entries)]
    first = api.get("/v1/refund-requests", params={"limit": 2}).json()
    assert [r["id"] for r in first["refund_requests"]] == ids[:2] and first["has_more"] is True
    rest = api.get("/v1/refund-requests", params={"cursor": first["next_cursor"]}).json()
    assert [r["id"] for r in rest["refund_requests"]] == ids[2:] and rest["has_more"] is False
    later = api.get("/v1/refund-requests", params={"cursor": rest["next_cursor"]}).json()
    assert later["refund_requests"] == []
    assert api.get(f"/v1/refund-requests/{ids[1]}").json()["ledger_entry_id"] == entries[1]["id"]
    assert_problem(api.get("/v1/refund-requests/rr_missing"), 404, "not_found")
    assert_problem(api.get("/v1/refund-requests", params={"cursor": "zzz"}), 400, "bad_request")


def test_requests_are_per_account(cloud: DemoCloud, api: httpx.Client) -> None:
    request = file(api, "mine", claim(failed_charge(api))).json()
    with httpx.Client(base_url=cloud.url, headers={"Authorization": "Bearer other-token"}) as o:
        assert_problem(o.get(f"/v1/refund-requests/{request['id']}"), 404, "not_found")
        assert o.get("/v1/refund-requests").json()["refund_requests"] == []


def test_sms_claim_is_rejected(api: httpx.Client) -> None:
    sms = next(e for e in all_entries(api) if e["kind"] == "sms")
    request = file(api, "sms", claim(sms, feature="sms", job_id=None)).json()
    assert settled(api, request["id"])["status"] == "rejected"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"ledger_entry_id": "le_nope"}, "unknown entry"),
        ({"amount_cents": 0}, "zero amount"),
        ({"amount_cents": 151}, "more than charged"),
        ({"charged_at": "last tuesday"}, "bad timestamp"),
        ({"reason": "   "}, "blank reason"),
        ({"amount_cents": "150"}, "amount as text"),
    ],
)
def test_invalid_claims_are_422(api: httpx.Client, changes: dict, why: str) -> None:
    body = claim(failed_charge(api), **changes)
    assert_problem(file(api, f"bad-{why}", body), 422, "unprocessable")


def test_claim_on_a_purchase_is_422(api: httpx.Client) -> None:
    purchase = next(e for e in all_entries(api) if e["kind"] == "purchase")
    body = claim(purchase, amount_cents=100)
    assert_problem(file(api, "purchase", body), 422, "unprocessable")


def test_missing_field_key_and_wrong_media_type(api: httpx.Client) -> None:
    body = claim(failed_charge(api))
    del body["account_email"]
    assert_problem(file(api, "no-email", body), 422, "unprocessable")
    response = api.post("/v1/refund-requests", json=claim(failed_charge(api)))
    assert_problem(response, 400, "bad_request")
    response = api.post(
        "/v1/refund-requests",
        content=b"ledger_entry_id=x",
        headers={"Idempotency-Key": "form", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 415, "unsupported_media_type")
    response = api.post(
        "/v1/refund-requests",
        content=b"{not json",
        headers={"Idempotency-Key": "broken", "Content-Type": "application/json"},
    )
    assert_problem(response, 400, "bad_request")
