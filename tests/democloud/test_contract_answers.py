"""Issue 10 #8: the questions a cloud written from docs/cloud-api.md alone left open, each
answered in the contract (section 14) and checked here against the demo cloud over real HTTP.
The client's side of each answer is named in the same table."""

from __future__ import annotations

from typing import Any

import httpx

from app.democloud.images import make_jpeg, make_png
from tests.conftest import wait_until
from tests.democloud.conftest import all_entries, assert_problem
from tests.democloud.test_democloud_refunds import claim, failed_charge, file, settled

PNG = make_png(16, 16)
JPEG = make_jpeg()


def _job(api: httpx.Client, key: str, *, feature: str | None = "draw_me", body: bytes = PNG,
         content_type: str = "image/png", headers: dict[str, str] | None = None
         ) -> httpx.Response:
    return api.post("/v1/jobs", params={"feature": feature} if feature else {}, content=body,
                    headers={"Content-Type": content_type, "Idempotency-Key": key,
                             **(headers or {})})


def test_client_timestamps_may_carry_any_offset(api: httpx.Client) -> None:
    entry = failed_charge(api)
    bare = claim(entry, charged_at="2025-06-12T21:14:33")
    assert_problem(file(api, "no-offset", bare), 422, "unprocessable")
    body = claim(entry, charged_at="2025-06-12T23:14:33+02:00",
                 submitted_at="2025-06-12T21:14:31.5-00:00", failed_at=None)
    assert file(api, "offsets", body).status_code == 201
    page = api.get("/v1/ledger", params={"since": "2025-06-12T23:00:00+02:00", "limit": 1})
    assert page.status_code == 200
    no_offset = api.get("/v1/ledger", params={"since": "2025-06-12T21:00:00"})
    assert_problem(no_offset, 400, "bad_request")


def test_a_rejected_claim_still_blocks_a_second_one_on_its_entry(api: httpx.Client) -> None:
    job = _job(api, "delivered").json()
    done = wait_until(lambda: (j := api.get(f"/v1/jobs/{job['id']}").json())["status"]
                      in ("succeeded", "failed") and j, timeout=10)
    entry = next(e for e in all_entries(api) if e["id"] == done["ledger_entry_id"])
    first = file(api, "first-try", claim(entry)).json()
    assert settled(api, first["id"])["status"] == "rejected"
    again = assert_problem(file(api, "second-try", claim(entry, reason="Please look again.")),
                           409, "duplicate_claim")
    assert again["existing_id"] == first["id"]


def test_a_missing_feature_is_422_like_an_unknown_one(api: httpx.Client) -> None:
    assert_problem(_job(api, "no-feature", feature=None), 422, "unprocessable")
    assert_problem(_job(api, "odd-feature", feature="teleport"), 422, "unprocessable")


def test_bad_booth_id_is_422_and_a_malformed_key_is_400(api: httpx.Client) -> None:
    for value in ("x" * 65, "Booth\x7f1"):
        assert_problem(_job(api, f"booth-{len(value)}", headers={"X-Booth-Id": value}),
                       422, "unprocessable")
    latin = _job(api, "booth-latin", headers={"X-Booth-Id": "Caf\u00e9".encode()})  # raw UTF-8
    assert_problem(latin, 422, "unprocessable")
    assert _job(api, "booth-encoded", headers={"X-Booth-Id": "Caf%C3%A9"}).status_code == 201
    for key in ("k" * 256, "tab\there"):
        assert_problem(_job(api, key), 400, "bad_request")


def test_content_type_parameters_are_ignored(api: httpx.Client) -> None:
    response = _job(api, "with-params", body=JPEG, content_type="Image/JPEG; charset=binary")
    assert response.status_code == 201, response.text


def test_structurally_valid_means_complete_bytes_after_the_end_marker_ignored(
        api: httpx.Client) -> None:
    assert _job(api, "png-trailer", body=PNG + b"trailing junk").status_code == 201
    jpeg = _job(api, "jpeg-trailer", body=JPEG + b"\0" * 32, content_type="image/jpeg")
    assert jpeg.status_code == 201
    assert_problem(_job(api, "png-cut", body=PNG[:-12]), 422, "invalid_image")


def test_result_url_is_the_result_route_relative_to_the_base_url(api: httpx.Client) -> None:
    job = _job(api, "result-url").json()
    done = wait_until(lambda: (j := api.get(f"/v1/jobs/{job['id']}").json())["status"]
                      in ("succeeded", "failed") and j, timeout=10)
    if done["status"] == "succeeded":
        assert done["result_url"] == f"/v1/jobs/{job['id']}/result"
        assert api.get(done["result_url"]).status_code == 200
    else:
        assert done["result_url"] is None


def test_a_foreign_cursor_is_400_even_with_since(api: httpx.Client) -> None:
    refund_cursor = api.get("/v1/refund-requests").json()["next_cursor"]
    foreign = api.get("/v1/ledger", params={"cursor": refund_cursor,
                                            "since": "2025-01-01T00:00:00Z"})
    assert_problem(foreign, 400, "bad_request")


def test_the_cursor_decides_where_a_since_query_resumes(api: httpx.Client) -> None:
    everything = all_entries(api)
    first = api.get("/v1/ledger", params={"limit": 2}).json()
    # A later `since` does not move the cursor back or forward: it only filters.
    later = api.get("/v1/ledger", params={"cursor": first["next_cursor"],
                                          "since": "2000-01-01T00:00:00Z", "limit": 500}).json()
    assert [e["id"] for e in later["entries"]] == [e["id"] for e in everything[2:]]


def test_health_is_outside_the_rate_limit_and_needs_no_token(cloud: Any) -> None:
    with httpx.Client(base_url=cloud.url, timeout=10) as anonymous:
        statuses = {anonymous.get("/v1/health").status_code for _ in range(300)}
    assert statuses == {200}


def test_an_unknown_route_is_404_with_or_without_a_token(cloud: Any, api: httpx.Client) -> None:
    assert_problem(httpx.get(f"{cloud.url}/v1/nothing-here"), 404, "not_found")
    assert_problem(api.get("/v1/nothing-here"), 404, "not_found")
    assert_problem(httpx.get(f"{cloud.url}/v1/balance"), 401, "unauthorized")


def test_a_reused_probe_id_starts_a_new_probe(api: httpx.Client) -> None:
    for size in (1000, 3000):
        up = api.post("/v1/speedtest/upload", params={"probe_id": "again"},
                      content=b"\x5a" * size)
        assert up.json()["bytes_received"] == size
    assert api.get("/v1/speedtest/upload/again").json()["bytes_received"] == 3000
