"""Issue 10 #12: the local trigger behind a timeout-and-cap connection policy; bad heads and
bodies get a 400 and a closed connection, never a traceback."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time

import pytest

from app.adapters.intake.local_trigger import LocalTrigger

TOKEN = "t" * 40


@pytest.fixture
def trigger():
    t = LocalTrigger(0, TOKEN, lambda p, f: {"id": "j-1"}, lambda i: None,
                     frozenset({"draw_me"}), idle_timeout=0.5, head_timeout=1.0,
                     max_connections=4)
    t.start()
    yield t
    t.stop()


def connect(t: LocalTrigger) -> socket.socket:
    return socket.create_connection(("127.0.0.1", t.port), timeout=10)


def read_all(s: socket.socket) -> bytes:
    """Everything until the server closes the connection (a timeout here fails the test)."""
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def head(t: LocalTrigger, body: bytes, length: str | None = None) -> bytes:
    return (f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{t.port}\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n\r\n").encode() + body


def test_idle_and_trickling_connections_are_closed(trigger):
    idle = connect(trigger)
    assert read_all(idle) == b"", "an idle connection is closed by the server"
    slow = connect(trigger)
    slow.sendall(b"GET /v1/jobs/j-1 HTTP/1.1\r\n")
    deadline = time.monotonic() + 8
    with contextlib.suppress(OSError):  # the server cutting it may reset the connection
        while time.monotonic() < deadline:  # one header byte at a time, each within the
            slow.sendall(b"X")               # idle timeout: only the head deadline cuts it
            time.sleep(0.2)
        pytest.fail("a trickling request head was never cut")
    with contextlib.suppress(OSError):
        assert read_all(slow) == b""


def test_connections_over_the_cap_get_503_and_the_rest_still_work(trigger):
    held = [connect(trigger) for _ in range(4)]
    extra = connect(trigger)
    assert read_all(extra).startswith(b"HTTP/1.1 503")
    for s in held:
        s.close()
    ok = connect(trigger)
    ok.sendall(head(trigger, json.dumps({"path": "/x.jpg", "feature": "draw_me"}).encode()))
    assert read_all(ok).startswith(b"HTTP/1.1 202")


@pytest.mark.parametrize("body,length", [
    (b'{"path": "/x"}', "12abc"),
    (b"[" * 30000 + b"]" * 30000, None),
])
def test_bad_length_or_deep_json_is_a_400_without_a_traceback(trigger, caplog, body, length):
    caplog.set_level(logging.DEBUG)
    s = connect(trigger)
    s.sendall(head(trigger, body[:60000], length))
    reply = read_all(s)
    assert reply.startswith(b"HTTP/1.1 400") or reply.startswith(b"HTTP/1.1 413")
    assert b"Connection: close" in reply
    assert "Traceback" not in caplog.text


def test_a_refused_requests_body_is_never_parsed_as_a_request(trigger):
    smuggled = f"GET /v1/jobs/j-1 HTTP/1.1\r\nHost: 127.0.0.1:{trigger.port}\r\n\r\n".encode()
    s = connect(trigger)
    s.sendall(head(trigger, smuggled).replace(TOKEN.encode(), b"wrong-token-123456"))
    reply = read_all(s)
    assert reply.count(b"HTTP/1.1 ") == 1 and reply.startswith(b"HTTP/1.1 401")
