"""The local trigger: booth software on this PC hands over a photo by HTTP instead of a folder.

    POST /v1/jobs   {"path": "C:\\\\Booth\\\\guest.jpg", "feature": "draw_me"}  -> 202 {"job": ...}
    GET  /v1/jobs/{id}                                                        -> 200 {"job": ...}

Only booth software may drive it, never a web page open in a browser on the same PC:
* it listens on 127.0.0.1 only, and answers only loopback peers;
* every request needs the token (Authorization: Bearer ...), which a page cannot know;
* the Host header must name 127.0.0.1/localhost and our port, which defeats DNS rebinding;
* any request carrying Origin or Sec-Fetch-Site (what browsers add) is refused, no CORS header is
  ever sent, and POST must be application/json, which a cross-site form cannot send.
Standard library only (http.server), so it runs wherever the app runs, behind a connection
policy (anyone on the PC can open a connection without the token): at most `max_connections` at
once (more get 503 and are closed), `idle_timeout` seconds of silence closes one, the whole
request head must arrive within `head_timeout` (a slow trickle is cut), and after any refused
request the connection is closed, so an unread body is never taken for a second request.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.adapters.system.secrets import SecretStore
from app.core.errors import MonitorError

log = logging.getLogger(__name__)

TOKEN_NAME = "local-trigger-token"
MAX_BODY = 64 * 1024
MAX_JSON_DEPTH = 16  # a job request is one flat object; json.loads recurses without a limit
IDLE_TIMEOUT = 10.0
HEAD_TIMEOUT = 30.0
MAX_CONNECTIONS = 16
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Content-Length: 38\r\nConnection: close\r\n\r\n"
         b'{"error": "Too many open connections."}')
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
                 features: frozenset[str], *, idle_timeout: float = IDLE_TIMEOUT,
                 head_timeout: float = HEAD_TIMEOUT, max_connections: int = MAX_CONNECTIONS):
        if len(token) < 16:
            raise ValueError("the trigger token is too short")
        self._token = token.encode()
        self._submit = submit
        self._lookup = lookup
        self.features = features
        self.idle_timeout = idle_timeout
        self.head_timeout = head_timeout
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.trigger = self
        self._server.max_connections = max_connections
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
    max_connections: int = MAX_CONNECTIONS

    def server_activate(self) -> None:
        super().server_activate()
        self._open = 0
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            full = self._open >= self.max_connections
            if not full:
                self._open += 1
        if full:  # answered here, on the accept thread, without a thread of its own
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        # One line, never a traceback: whatever a client sends must not fill the log.
        exc = sys.exc_info()[1]
        log.warning("local trigger: a connection ended in error (%s: %s)",
                    type(exc).__name__, exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BoothCreditMonitorTrigger/1"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.trigger.idle_timeout  # StreamRequestHandler applies it
        super().setup()
        self._head_timer: threading.Timer | None = None

    def handle_one_request(self) -> None:
        # The whole head (request line and headers) must arrive within head_timeout, however
        # slowly it trickles in; the timer is stopped as soon as a method handler runs.
        self._head_timer = threading.Timer(self.server.trigger.head_timeout, self._cut)
        self._head_timer.daemon = True
        self._head_timer.start()
        try:
            super().handle_one_request()
        except TimeoutError:
            self.close_connection = True  # idle: closed quietly
        finally:
            self._head_arrived()

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cut(self) -> None:
        log.info("local trigger: a request head took over %.0f s; connection closed",
                 self.server.trigger.head_timeout)
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("trigger %s", format % args)  # the request line only, never headers

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._head_arrived()
        # A browser's CORS preflight: answered without any Access-Control-* header, so the
        # browser never sends the real request.
        self._send(405, {"error": "Not allowed."})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS

    def _handle(self) -> None:
        self._head_arrived()
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
        raw_length = (self.headers.get("Content-Length") or "0").strip()
        if not raw_length.isdigit():
            self._send(400, {"error": "Content-Length must be a number of bytes."})
            return
        length = int(raw_length)
        if not 0 < length <= MAX_BODY:
            self._send(413, {"error": f"The body must be 1 to {MAX_BODY} bytes of JSON."})
            return
        raw = self.rfile.read(length)
        if len(raw) < length:
            self.close_connection = True  # the client gave up mid-body
            return
        try:
            if _json_depth(raw) > MAX_JSON_DEPTH:
                raise ValueError("nested too deeply")
            body = json.loads(raw)
        except (ValueError, RecursionError):
            self._send(400, {"error": "The body is not valid JSON (one flat object)."})
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
        if status >= 400:
            # A refused request's body may be unread: never parse it as the next request.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _json_depth(raw: bytes) -> int:
    """How deeply `raw` nests arrays and objects (outside strings), found without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest
