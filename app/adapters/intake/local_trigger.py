"""The local trigger: booth software on this PC hands over a photo by HTTP instead of a folder.

    POST /v1/jobs   {"path": "C:\\\\Booth\\\\guest.jpg", "feature": "draw_me"}  -> 202 {"job": ...}
    GET  /v1/jobs/{id}                                                        -> 200 {"job": ...}

Only booth software may drive it, never a web page open in a browser on the same PC:
* it listens on 127.0.0.1 only, and answers only loopback peers;
* every request needs the token (Authorization: Bearer ...), which a page cannot know;
* the Host header must name 127.0.0.1/localhost and our port, which defeats DNS rebinding;
* any request carrying Origin or Sec-Fetch-Site (what browsers add) is refused, no CORS header is
  ever sent, and POST must be application/json, which a cross-site form cannot send.
Standard library only (http.server), so it runs wherever the app runs.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.adapters.system.secrets import SecretStore
from app.core.errors import MonitorError

log = logging.getLogger(__name__)

TOKEN_NAME = "local-trigger-token"
MAX_BODY = 64 * 1024
_JOB_PATH = re.compile(r"^/v1/jobs/([A-Za-z0-9_-]{1,64})$")

SubmitFn = Callable[[str, str], dict[str, Any]]  # (path, feature) -> job json
LookupFn = Callable[[str], "dict[str, Any] | None"]


def trigger_token(store: SecretStore, *, renew: bool = False) -> str:
    """The token booth software must send; made once and kept in the OS keyring."""
    token = None if renew else store.get(TOKEN_NAME).value
    if not token:
        token = secrets.token_urlsafe(32)
        store.set(TOKEN_NAME, token)
    return token


class LocalTrigger:
    def __init__(self, port: int, token: str, submit: SubmitFn, lookup: LookupFn,
                 features: frozenset[str]):
        if len(token) < 16:
            raise ValueError("the trigger token is too short")
        self._token = token.encode()
        self._submit = submit
        self._lookup = lookup
        self.features = features
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.trigger = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-trigger",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        log.info("local trigger listening on %s", self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def token_ok(self, header: str | None) -> bool:
        scheme, _, value = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                                  self._token)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # never share the port with another program
    trigger: LocalTrigger


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BoothCreditMonitorTrigger/1"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("trigger %s", format % args)  # the request line only, never headers

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        # A browser's CORS preflight: answered without any Access-Control-* header, so the
        # browser never sends the real request.
        self._send(405, {"error": "Not allowed."})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS

    def _handle(self) -> None:
        trigger = self.server.trigger
        refusal = self._refusal(trigger)
        if refusal is not None:
            self._send(*refusal)
            return
        try:
            if self.command == "POST" and self.path == "/v1/jobs":
                self._create(trigger)
                return
            match = _JOB_PATH.match(self.path)
            if self.command == "GET" and match:
                job = trigger._lookup(match.group(1))
                self._send(200, {"job": job}) if job else self._send(404, {"error": "No such job."})
                return
            self._send(404, {"error": "Unknown endpoint."})
        except MonitorError as error:
            self._send(503, {"error": str(error)})

    def _refusal(self, trigger: LocalTrigger) -> tuple[int, dict[str, str]] | None:
        if not _is_loopback(self.client_address[0]):
            return 403, {"error": "Only programs on this PC may use the trigger."}
        if self.headers.get("Origin") is not None or self.headers.get("Sec-Fetch-Site"):
            return 403, {"error": "Requests from web pages are not accepted."}
        host = (self.headers.get("Host") or "").lower()
        if host not in (f"127.0.0.1:{trigger.port}", f"localhost:{trigger.port}"):
            return 403, {"error": "Wrong Host header."}
        if not trigger.token_ok(self.headers.get("Authorization")):
            return 401, {"error": "Send the trigger token as 'Authorization: Bearer <token>'."}
        return None

    def _create(self, trigger: LocalTrigger) -> None:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            self._send(415, {"error": "Send JSON (Content-Type: application/json)."})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._send(413, {"error": f"The body must be 1 to {MAX_BODY} bytes of JSON."})
            return
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            self._send(400, {"error": "The body is not valid JSON."})
            return
        path = body.get("path") if isinstance(body, dict) else None
        feature = body.get("feature") if isinstance(body, dict) else None
        if not isinstance(path, str) or not path or feature not in trigger.features:
            self._send(422, {"error": "Give 'path' (a photo on this PC) and 'feature' (one of "
                                      f"{', '.join(sorted(trigger.features))})."})
            return
        try:
            job = trigger._submit(path, feature)
        except MonitorError as error:
            self._send(422, {"error": str(error)})
            return
        self._send(202, {"job": job})

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        payload = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(payload)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
