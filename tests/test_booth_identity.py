"""Issue 10 #7: X-Booth-Id went only with job uploads; the contract's booth id belongs on every
request (balance, ledger, claims, probes), so the cloud can tell an account's booths apart."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.core.booth_identity import booth_id
from app.runtime import Options, Runtime


@pytest.fixture
def recording_cloud():
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            body = json.dumps({"balance_cents": 1234,
                               "as_of": "2026-12-04T12:00:00Z"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_every_request_names_the_booth(recording_cloud, home, memory_keyring):
    url, seen = recording_cloud
    runtime = Runtime(Options(home=str(home), cloud_url=url))
    try:
        runtime.settings.booth_name = "Booth Zürich 2"
        runtime.secrets.set_token(runtime.cloud_url, "t0ken-for-test")
        runtime.cloud().get_balance()
    finally:
        runtime.close()
    assert seen and seen[0]["path"] == "/v1/balance"
    assert seen[0]["x-booth-id"] == "Booth Z%C3%BCrich 2"


def test_the_computer_name_stands_in_until_the_operator_names_the_booth():
    assert booth_id("", socket.gethostname()) == booth_id(socket.gethostname(), "")
    assert booth_id("  Booth   7 ", "pc") == "Booth 7"


def test_the_id_fits_the_contract_and_never_cuts_an_escape():
    long = booth_id("ü" * 40, "pc")
    assert 0 < len(long) <= 64 and long.isascii()
    assert long.endswith("%C3%BC") or long.endswith("%C3")
    assert "%" not in long[-2:]
