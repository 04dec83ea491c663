"""Rate limits, outage modes and shutdown: the ways a cloud goes away that clients must survive."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import httpx
import pytest

from app.democloud import DemoCloud
from tests.conftest import wait_until
from tests.democloud.conftest import AUTH, assert_problem, running_cloud, scenario


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    with running_cloud(
        tmp_path / "rl.sqlite3", rate_limit=2, rate_burst=3, extra_tokens={"t2": "b@x.example"}
    ) as (demo, client):
        statuses = [client.get("/v1/balance") for _ in range(6)]
        assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
        limited = [r for r in statuses if r.status_code == 429]
        assert len(limited) >= 2
        body = assert_problem(limited[0], 429, "rate_limited")
        assert body["detail"]
        assert int(limited[0].headers["retry-after"]) >= 1
        # The server's own count of what this token sent and was refused: what a client's
        # pacing is checked against (the demo levers are not counted).
        assert client.get("/demo/state").json()["requests"] == {
            "total": 6, "rate_limited": len(limited)}
        # Per token: another booth account is not slowed down, nor is the health check.
        other = httpx.get(f"{demo.url}/v1/balance", headers={"Authorization": "Bearer t2"})
        assert other.status_code == 200
        assert httpx.get(f"{demo.url}/v1/health").status_code == 200
        wait_until(lambda: client.get("/v1/balance").status_code == 200, timeout=3)


def test_outage_503_with_retry_after_then_restore(api: httpx.Client) -> None:
    scenario(api, "outage", mode="503", seconds=0)
    for path in ("/v1/health", "/v1/balance", "/v1/ledger"):
        response = api.get(path)
        assert_problem(response, 503, "unavailable")
        assert int(response.headers["retry-after"]) >= 1
    upload = api.post("/v1/speedtest/upload", content=b"x" * 2_000_000)
    assert_problem(upload, 503, "unavailable")  # answered, not reset, despite the unread body
    state = api.get("/demo/state").json()  # and the same connection still works
    assert state["outage"]["mode"] == "503"
    scenario(api, "restore")
    assert api.get("/v1/balance").status_code == 200


def test_timed_outage_ends_by_itself(api: httpx.Client) -> None:
    scenario(api, "outage", mode="503", seconds=0.4)
    response = api.get("/v1/balance")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    wait_until(lambda: api.get("/v1/balance").status_code == 200, timeout=3)


def test_drop_closes_connections_without_a_response(cloud: DemoCloud, api: httpx.Client) -> None:
    scenario(api, "outage", mode="drop", seconds=0)
    with httpx.Client(base_url=cloud.url, headers=AUTH, timeout=5) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get("/v1/balance")
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            client.post("/v1/speedtest/upload", content=b"x" * 100_000)
    assert api.get("/demo/state").json()["outage"]["mode"] == "drop"
    scenario(api, "restore")
    assert api.get("/v1/balance").status_code == 200


def test_captive_portal_answers_html_200(api: httpx.Client) -> None:
    scenario(api, "outage", mode="captive_portal", seconds=0)
    for path in ("/v1/health", "/v1/balance"):
        response = api.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert b"<form" in response.content
        assert "x-request-id" not in response.headers  # it is not the cloud talking
    posted = api.post("/v1/refund-requests", json={"x": 1}, headers={"Idempotency-Key": "k"})
    assert posted.status_code == 200 and b"<html" in posted.content
    scenario(api, "restore")
    assert api.get("/v1/balance").headers["content-type"] == "application/json"


def _raw_keep_alive_request(sock: socket.socket, host: str) -> bytes:
    sock.sendall(f"GET /v1/health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head


def test_stop_closes_idle_keep_alive_connections_promptly(tmp_path: Path) -> None:
    demo = DemoCloud(tmp_path / "stop.sqlite3")
    demo.start()
    host, port = demo.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    try:
        head = _raw_keep_alive_request(sock, host)
        assert head.startswith(b"HTTP/1.1 200")
        assert b"connection: close" not in head.lower()  # the server keeps it open
        client = httpx.Client(base_url=demo.url, headers=AUTH, timeout=5)
        assert client.get("/v1/balance").status_code == 200  # a pooled keep-alive connection

        started = time.monotonic()
        demo.stop()
        assert time.monotonic() - started < 2.0

        sock.settimeout(2.0)
        with contextlib.suppress(ConnectionResetError):  # a reset is as good as a close here
            assert sock.recv(1) == b""
        with pytest.raises(httpx.TransportError):
            client.get("/v1/balance")
        client.close()
        demo.stop()  # idempotent
    finally:
        sock.close()


def test_stop_interrupts_a_slow_upload(tmp_path: Path) -> None:
    demo = DemoCloud(tmp_path / "stop2.sqlite3")
    demo.start()
    host, port = demo.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    try:
        sock.sendall(
            b"POST /v1/speedtest/upload?probe_id=slow HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer demo-token"
            b"\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000
        )
        progress = f"{demo.url}/v1/speedtest/upload/slow"
        wait_until(lambda: httpx.get(progress, headers=AUTH).status_code == 200, timeout=3)
        started = time.monotonic()
        demo.stop()
        assert time.monotonic() - started < 2.0
        sock.settimeout(2.0)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(4096) == b""
    finally:
        sock.close()


def test_restart_same_object_keeps_url_and_state(cloud: DemoCloud, api: httpx.Client) -> None:
    url = cloud.url
    scenario(api, "coupon-bonus", amount_cents=1234)
    before = api.get("/v1/balance").json()["balance_cents"]
    cloud.stop()
    with pytest.raises(RuntimeError):
        _ = cloud.url
    cloud.start()
    assert cloud.url == url
    with httpx.Client(base_url=url, headers=AUTH) as client:
        assert client.get("/v1/balance").json()["balance_cents"] == before
