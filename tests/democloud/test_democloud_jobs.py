"""AI jobs: idempotent submission, admission, the charge-before-result, results and restarts."""

from __future__ import annotations

import struct
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.democloud import DemoCloud
from app.democloud.images import make_jpeg, make_png
from tests.conftest import wait_until
from tests.democloud.conftest import (
    AUTH,
    all_entries,
    assert_problem,
    balance,
    running_cloud,
    scenario,
)

PNG = make_png(16, 16)
JPEG = make_jpeg()


def submit(
    client: httpx.Client,
    key: str,
    *,
    feature: str = "background_removal",
    body: bytes = PNG,
    content_type: str = "image/png",
    **headers: str,
) -> httpx.Response:
    return client.post(
        "/v1/jobs",
        params={"feature": feature},
        content=body,
        headers={"Content-Type": content_type, "Idempotency-Key": key, **headers},
    )


def finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (j := client.get(f"/v1/jobs/{job_id}").json())["status"] in ("succeeded", "failed")
            and j
        ),
        timeout=10,
    )


def charges_for(client: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    return [e for e in all_entries(client) if e["job_id"] == job_id and e["kind"] == "ai_run"]


def test_job_runs_to_success_and_result_carries_the_marker(api: httpx.Client) -> None:
    before = balance(api)
    created = submit(api, "photo-1", feature="draw_me", **{"X-Booth-Id": "booth-1"})
    assert created.status_code == 201
    job = created.json()
    assert job["status"] == "queued" and job["charged_cents"] == 0
    assert job["ledger_entry_id"] is None and job["result_url"] is None
    assert job["idempotency_key"] == "photo-1" and job["booth_id"] == "booth-1"
    assert created.headers["location"] == f"/v1/jobs/{job['id']}"

    done = finished(api, job["id"])
    assert done["status"] == "succeeded" and done["failure_reason"] is None
    assert done["charged_cents"] == 150
    assert done["result_url"] == f"/v1/jobs/{job['id']}/result"
    (charge,) = charges_for(api, job["id"])
    assert charge["id"] == done["ledger_entry_id"] and charge["amount_cents"] == -150
    assert balance(api) == before - 150

    result = api.get(done["result_url"])
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    text = b"Software\x00booth demo cloud draw_me"
    at = result.content.index(b"tEXt" + text)
    (length,) = struct.unpack(">I", result.content[at - 4 : at])
    assert length == len(text)
    assert result.content.endswith(b"IEND\xaeB`\x82")


def test_jpeg_result_has_a_comment_after_soi(api: httpx.Client) -> None:
    job = submit(api, "jpeg-1", body=JPEG, content_type="image/jpeg").json()
    finished(api, job["id"])
    result = api.get(f"/v1/jobs/{job['id']}/result")
    assert result.headers["content-type"] == "image/jpeg"
    marker = b"booth demo cloud background_removal"
    assert result.content[:4] == b"\xff\xd8\xff\xfe"
    assert result.content[6 : 6 + len(marker)] == marker
    assert result.content[6 + len(marker) :] == JPEG[2:]


def test_result_not_ready_while_queued_or_running(cloud: DemoCloud, tmp_path: Path) -> None:
    with running_cloud(tmp_path / "slow.sqlite3", job_seconds=30) as (_, client):
        job = submit(client, "slow-1").json()
        response = client.get(f"/v1/jobs/{job['id']}/result")
        assert_problem(response, 409, "result_not_ready")
        assert response.headers["retry-after"]


def test_same_key_twice_is_one_job_and_one_charge(api: httpx.Client) -> None:
    before = balance(api)
    first = submit(api, "retry-me", feature="ai_headshot")
    second = submit(api, "retry-me", feature="ai_headshot")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    finished(api, first.json()["id"])
    third = submit(api, "retry-me", feature="ai_headshot")  # a replay after completion too
    assert third.status_code == 200 and third.json()["status"] == "succeeded"
    assert len(charges_for(api, first.json()["id"])) == 1
    assert balance(api) == before - 100


def test_twenty_concurrent_submits_with_one_key_charge_once(cloud: DemoCloud) -> None:
    start = threading.Barrier(20)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        with httpx.Client(base_url=cloud.url, headers=AUTH, timeout=10) as client:
            start.wait()
            response = submit(client, "stampede", feature="draw_me")
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1
    assert set(statuses) <= {200, 201, 409}
    assert {r.json()["id"] for r in responses if r.status_code < 300} == {
        next(r.json()["id"] for r in responses if r.status_code == 201)
    }
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["code"] == "idempotency_conflict"
        assert conflict.json()["retryable"] is True and conflict.headers["retry-after"]
    with httpx.Client(base_url=cloud.url, headers=AUTH) as client:
        job_id = next(r.json()["id"] for r in responses if r.status_code == 201)
        finished(client, job_id)
        assert len(charges_for(client, job_id)) == 1


def test_same_key_different_request_is_a_conflict(api: httpx.Client) -> None:
    assert submit(api, "k-1", feature="draw_me").status_code == 201
    assert_problem(submit(api, "k-1", feature="ai_headshot"), 409, "idempotency_conflict")
    assert_problem(
        submit(api, "k-1", feature="draw_me", body=make_png(4, 4)), 409, "idempotency_conflict"
    )


def test_keys_are_per_account(cloud: DemoCloud, api: httpx.Client) -> None:
    mine = submit(api, "shared-key").json()
    with httpx.Client(base_url=cloud.url, headers={"Authorization": "Bearer other-token"}) as other:
        theirs = submit(other, "shared-key")
        assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]
        assert_problem(other.get(f"/v1/jobs/{mine['id']}"), 404, "not_found")
        assert_problem(other.get(f"/v1/jobs/{mine['id']}/result"), 404, "not_found")


def test_insufficient_credits_creates_nothing(cloud: DemoCloud, api: httpx.Client) -> None:
    scenario(api, "other-booth-spend", feature="draw_me", count=200)
    left = balance(api)
    assert left < 150
    jobs_before = api.get("/demo/state").json()["jobs"]
    body = assert_problem(submit(api, "too-poor", feature="draw_me"), 402, "insufficient_credits")
    assert body["required_cents"] == 150 and body["balance_cents"] == left
    assert balance(api) == left
    assert api.get("/demo/state").json()["jobs"] == jobs_before
    if left >= 25:  # the key was not consumed by the refusal: a cheaper retry may use it
        assert submit(api, "too-poor", feature="background_removal").status_code == 201


def test_admission_counts_jobs_not_yet_charged(tmp_path: Path) -> None:
    with running_cloud(tmp_path / "c.sqlite3", job_seconds=30, max_running_jobs=1) as (_, client):
        scenario(client, "other-booth-spend", feature="background_removal", count=1000)
        scenario(client, "coupon-bonus", amount_cents=300 - balance(client))
        assert balance(client) == 300
        assert submit(client, "a", feature="draw_me").status_code == 201
        assert submit(client, "b", feature="draw_me").status_code == 201
        assert_problem(submit(client, "c", feature="draw_me"), 402, "insufficient_credits")


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"content_type": "text/plain"}, 415, "unsupported_media_type"),
        ({"content_type": "image/gif"}, 415, "unsupported_media_type"),
        ({"body": PNG[:-12]}, 422, "invalid_image"),
        ({"body": JPEG[:-2], "content_type": "image/jpeg"}, 422, "invalid_image"),
        ({"body": JPEG}, 422, "invalid_image"),  # a JPEG labelled as PNG
        ({"body": b""}, 422, "invalid_image"),
        ({"feature": "teleport"}, 422, "unprocessable"),
    ],
)
def test_rejected_uploads(api: httpx.Client, kwargs: dict, status: int, code: str) -> None:
    before = balance(api)
    assert_problem(submit(api, f"bad-{status}-{code}", **kwargs), status, code)
    assert balance(api) == before


def test_missing_idempotency_key_is_400(api: httpx.Client) -> None:
    response = api.post(
        "/v1/jobs",
        params={"feature": "draw_me"},
        content=PNG,
        headers={"Content-Type": "image/png"},
    )
    assert_problem(response, 400, "bad_request")


def test_oversized_photo_is_413_and_the_connection_survives(api: httpx.Client) -> None:
    big = make_jpeg(padding=15 * 1024 * 1024)
    assert_problem(
        submit(api, "huge", body=big, content_type="image/jpeg"), 413, "payload_too_large"
    )
    assert api.get("/v1/balance").status_code == 200


def test_photo_just_under_the_limit_is_accepted(api: httpx.Client) -> None:
    limit = 15 * 1024 * 1024
    padding = limit - len(make_jpeg())
    padding -= 4 * (padding // 65533 + 1)  # each APP15 segment adds a marker and a length
    big = make_jpeg(padding=padding)
    assert limit - 1000 < len(big) <= limit
    assert submit(api, "big-ok", body=big, content_type="image/jpeg").status_code == 201


def _outcomes(db: Path, seed: int) -> list[str | None]:
    with running_cloud(db, job_failure_rate=0.5, seed=seed, job_seconds=0.05) as (_, client):
        ids = [submit(client, f"job-{n}").json()["id"] for n in range(12)]
        return [finished(client, job_id)["failure_reason"] for job_id in ids]


def test_seeded_failures_are_reproducible(tmp_path: Path) -> None:
    first = _outcomes(tmp_path / "a.sqlite3", seed=42)
    second = _outcomes(tmp_path / "b.sqlite3", seed=42)
    other = _outcomes(tmp_path / "c.sqlite3", seed=7)
    assert first == second
    assert None in first and any(first)  # both outcomes occur at rate 0.5
    assert all(r is None or r.startswith("processing error:") for r in first)
    assert first != other


def test_charge_is_written_before_the_job_fails(tmp_path: Path) -> None:
    db = tmp_path / "f.sqlite3"
    with running_cloud(db, job_failure_rate=1.0, job_seconds=0.5) as (_, client):
        before = balance(client)
        job = submit(client, "doomed", feature="ai_headshot").json()
        running = wait_until(
            lambda: (j := client.get(f"/v1/jobs/{job['id']}").json())["status"] == "running" and j,
            timeout=5,
        )
        (charge,) = charges_for(client, job["id"])
        assert running["ledger_entry_id"] == charge["id"] and running["charged_cents"] == 100
        assert balance(client) == before - 100

        failed = finished(client, job["id"])
        assert failed["status"] == "failed" and failed["failure_reason"]
        assert_problem(client.get(f"/v1/jobs/{job['id']}/result"), 409, "job_failed")
        assert balance(client) == before - 100  # no automatic refund
        assert not [e for e in all_entries(client) if e["kind"] == "refund"]


def test_restart_keeps_state_and_resumes_jobs(tmp_path: Path) -> None:
    db = tmp_path / "restart.sqlite3"
    with running_cloud(db, job_seconds=60, max_running_jobs=1) as (_, client):
        running = submit(client, "r-1").json()
        wait_until(lambda: client.get(f"/v1/jobs/{running['id']}").json()["status"] == "running")
        queued = submit(client, "r-2", feature="draw_me").json()
        assert client.get(f"/v1/jobs/{queued['id']}").json()["status"] == "queued"
        entries = all_entries(client)
        state = client.get("/demo/state").json()

    with running_cloud(db, job_seconds=0.1) as (_, client):
        assert all_entries(client)[: len(entries)] == entries
        assert client.get("/v1/account").json()["email"] == "demo@booth.example"
        assert finished(client, running["id"])["status"] == "succeeded"
        assert finished(client, queued["id"])["status"] == "succeeded"
        assert len(charges_for(client, running["id"])) == 1
        assert len(charges_for(client, queued["id"])) == 1
        replay = submit(client, "r-2", feature="draw_me")
        assert replay.status_code == 200 and replay.json()["id"] == queued["id"]
        assert balance(client) == state["balance_cents"] - 150
