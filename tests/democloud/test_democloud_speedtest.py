"""Speed-test probes: server-side counting of uploads, live progress, incompressible downloads."""

from __future__ import annotations

import itertools
import os
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx

from app.democloud import DemoCloud
from tests.conftest import wait_until
from tests.democloud.conftest import AUTH, assert_problem

MIB = 1024 * 1024


def _check_samples(result: dict[str, Any]) -> None:
    samples = result["samples"]
    assert samples, result
    assert samples[0]["t"] == 0.0
    assert samples[-1]["bytes"] == result["bytes_received"]
    assert abs(samples[-1]["t"] - result["server_elapsed_seconds"]) < 1e-3
    for earlier, later in itertools.pairwise(samples):
        assert later["bytes"] > earlier["bytes"]
        assert later["t"] >= earlier["t"]
    # Intermediate samples are at least 50 ms apart (the last one closes the series).
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(samples[:-1])]
    assert all(gap >= 0.05 - 1e-6 for gap in gaps)


def test_upload_with_content_length(api: httpx.Client) -> None:
    body = os.urandom(3 * MIB)
    response = api.post(
        "/v1/speedtest/upload",
        params={"probe_id": "cl-1"},
        content=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["probe_id"] == "cl-1"
    assert result["bytes_received"] == len(body)
    assert result["server_elapsed_seconds"] >= 0
    _check_samples(result)


def _paced(chunks: int, size: int, pause: float) -> Iterator[bytes]:
    for _ in range(chunks):
        yield os.urandom(size)
        time.sleep(pause)


def test_chunked_upload_is_counted_as_it_arrives(api: httpx.Client) -> None:
    response = api.post(
        "/v1/speedtest/upload", params={"probe_id": "chunked-1"}, content=_paced(8, 50_000, 0.03)
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    result = response.json()
    assert result["bytes_received"] == 400_000
    assert 0.15 < result["server_elapsed_seconds"] < 2.0  # the pacing is visible server-side
    assert len(result["samples"]) >= 3
    _check_samples(result)


def test_probe_id_is_generated_when_absent(api: httpx.Client) -> None:
    result = api.post("/v1/speedtest/upload", content=b"x" * 10).json()
    assert result["probe_id"].startswith("probe_") and result["bytes_received"] == 10
    empty = api.post("/v1/speedtest/upload", params={"probe_id": "empty"}).json()
    assert empty == {
        "probe_id": "empty",
        "bytes_received": 0,
        "server_elapsed_seconds": 0.0,
        "samples": [],
    }


def test_live_progress_from_another_connection(cloud: DemoCloud, api: httpx.Client) -> None:
    outcome: dict[str, Any] = {}

    def upload() -> None:
        with httpx.Client(base_url=cloud.url, headers=AUTH, timeout=10) as uploader:
            outcome["result"] = uploader.post(
                "/v1/speedtest/upload",
                params={"probe_id": "live-1"},
                content=_paced(20, 20_000, 0.05),
            ).json()

    thread = threading.Thread(target=upload)
    thread.start()
    try:
        seen = wait_until(
            lambda: (
                (r := api.get("/v1/speedtest/upload/live-1")).status_code == 200
                and (p := r.json())["bytes_received"] > 0
                and not p["done"]
                and p
            ),
            timeout=5,
        )
        assert 0 < seen["bytes_received"] < 400_000
    finally:
        thread.join()
    final = api.get("/v1/speedtest/upload/live-1").json()
    assert final["done"] is True
    assert final["bytes_received"] == outcome["result"]["bytes_received"] == 400_000
    assert final["server_elapsed_seconds"] == outcome["result"]["server_elapsed_seconds"]


def test_progress_is_per_account_and_unknown_probes_are_404(
    cloud: DemoCloud, api: httpx.Client
) -> None:
    api.post("/v1/speedtest/upload", params={"probe_id": "mine"}, content=b"abc")
    assert_problem(api.get("/v1/speedtest/upload/never-ran"), 404, "not_found")
    with httpx.Client(base_url=cloud.url, headers={"Authorization": "Bearer other-token"}) as o:
        assert_problem(o.get("/v1/speedtest/upload/mine"), 404, "not_found")


def test_only_recent_probes_are_kept(api: httpx.Client) -> None:
    for n in range(65):
        api.post("/v1/speedtest/upload", params={"probe_id": f"p{n}"}, content=b"x")
    assert_problem(api.get("/v1/speedtest/upload/p0"), 404, "not_found")
    assert api.get("/v1/speedtest/upload/p1").json()["bytes_received"] == 1


def test_upload_over_16_mib_is_413(api: httpx.Client) -> None:
    too_big = b"\0" * (16 * MIB + 1)
    assert_problem(api.post("/v1/speedtest/upload", content=too_big), 413, "payload_too_large")
    chunked = api.post("/v1/speedtest/upload", content=iter([too_big[: 8 * MIB]] * 3))
    assert_problem(chunked, 413, "payload_too_large")
    assert api.get("/v1/health").status_code == 200


def test_bad_probe_id_is_422(api: httpx.Client) -> None:
    response = api.post("/v1/speedtest/upload", params={"probe_id": "has spaces"}, content=b"x")
    assert_problem(response, 422, "unprocessable")


def test_download_is_exactly_n_incompressible_bytes(api: httpx.Client) -> None:
    response = api.get("/v1/speedtest/download", params={"bytes": 2 * MIB})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert "no-store" in response.headers["cache-control"]
    assert "content-encoding" not in response.headers
    assert int(response.headers["content-length"]) == len(response.content) == 2 * MIB
    assert len(zlib.compress(response.content)) / len(response.content) > 0.99
    again = api.get("/v1/speedtest/download", params={"bytes": 1000}).content
    assert len(again) == 1000 and again != response.content[:1000]


def test_download_streams_the_maximum(api: httpx.Client) -> None:
    with api.stream("GET", "/v1/speedtest/download", params={"bytes": 16 * MIB}) as response:
        assert sum(len(chunk) for chunk in response.iter_bytes()) == 16 * MIB


def test_download_size_is_validated(api: httpx.Client) -> None:
    for value, status, code in (
        ("0", 422, "unprocessable"),
        (str(16 * MIB + 1), 422, "unprocessable"),
        ("lots", 400, "bad_request"),
    ):
        response = api.get("/v1/speedtest/download", params={"bytes": value})
        assert_problem(response, status, code)
    assert_problem(api.get("/v1/speedtest/download"), 400, "bad_request")
