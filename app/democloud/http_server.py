"""HTTP plumbing: connection tracking, framing, auth, outages and response writing.

Standard library only: ThreadingHTTPServer speaking HTTP/1.1 with keep-alive, one thread per
connection. The server tracks its connections so that stopping the demo cloud cuts idle
keep-alive sockets too, the way a client sees a cloud vanish when a venue network drops.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.democloud import routes
from app.democloud.clock import new_id
from app.democloud.httpio import BodyReader, Request, Response
from app.democloud.problems import PROBLEM_TYPE, ApiError, problem_body
from app.democloud.runtime import Runtime

log = logging.getLogger(__name__)

DRAIN_LIMIT = 32 * 1024 * 1024  # unread body we will still swallow to keep a connection usable
IDLE_TIMEOUT = 120.0
CAPTIVE_PORTAL_HTML = b"""<!doctype html>
<html><head><title>Venue Wi-Fi - Sign in</title></head>
<body><h1>Welcome to the venue Wi-Fi</h1>
<p>Please accept the terms of use to continue to the internet.</p>
<form method="post" action="/login"><label><input type="checkbox" name="accept"> I accept</label>
<button type="submit">Connect</button></form></body></html>
"""
_ERROR_CODES = {
    400: "bad_request",
    414: "uri_too_long",
    431: "headers_too_large",
    501: "not_implemented",
    505: "http_version_not_supported",
}


class DemoHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() cuts connections itself, then waits briefly for handlers
    allow_reuse_address = True
    # socketserver's default backlog of 5 resets connections when a venue's booths (or a test)
    # connect at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], rt: Runtime) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.rt = rt
        self.stopping = False
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, DemoRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Registered here, on the accept thread, so stop() cannot miss a just-accepted socket.
        with self._connections_lock:
            if self.stopping:
                self.shutdown_request(request)
                return
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self, wait: float = 2.0) -> None:
        with self._connections_lock:
            open_now = list(self._connections)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with self._connections_lock:
                if not self._connections:
                    return
            time.sleep(0.01)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class DemoRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BoothDemoCloud/1"
    # Headers and body go out in separate writes; without this, Nagle plus the client's delayed
    # ACK adds ~40 ms to every small response.
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT
    server: DemoHTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def __getattr__(self, name: str) -> Any:
        # Any other method (PUT, TRACE, HEAD...) reaches the router and gets a proper 405.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        # The request line only: headers (and so tokens) never reach the log.
        log.debug("%s %s", self.address_string(), format % args)

    def handle_one_request(self) -> None:
        if self.server.stopping:
            self.close_connection = True
            return
        super().handle_one_request()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Framing errors found by http.server, answered as problem+json like everything else."""
        body = problem_body(code, _ERROR_CODES.get(code, "bad_request"), message or explain or "")
        self.close_connection = True
        try:
            self.send_response(code)
            self.send_header("Content-Type", PROBLEM_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Request-Id", new_id("req"))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass

    def _dispatch(self) -> None:
        rt = self.server.rt
        request_id = new_id("req")
        split = urlsplit(self.path)
        path = split.path
        if not path.startswith("/demo/"):
            outage = rt.disruptions.outage()
            if outage is not None and outage[0] == "drop":
                self.close_connection = True  # no response at all, like a dead uplink
                return
            if outage is not None and outage[0] == "captive_portal":
                self._captive_portal()
                return
            if outage is not None:
                unavailable = Response(
                    503,
                    problem_body(503, "unavailable", "The cloud is temporarily unavailable."),
                    PROBLEM_TYPE,
                    {"Retry-After": str(outage[1])},
                )
                try:  # read the body away so the client gets the 503, not a reset
                    framed: BodyReader | None = BodyReader(self.rfile, self.headers)
                except ApiError:
                    framed = None
                self._finish(unavailable, request_id, body=framed)
                return
        body: BodyReader | None = None
        close = False
        try:
            body = BodyReader(self.rfile, self.headers)
            route, params = routes.match(self.command, path)
            request = Request(
                method=self.command,
                path=path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers=self.headers,
                body=body,
                request_id=request_id,
            )
            if route.access != routes.PUBLIC:
                self._authenticate(request, demo=route.access == routes.DEMO)
            response = route.handler(rt, request, **params)
        except ApiError as exc:
            close = exc.close
            response = Response(exc.status, exc.body(), PROBLEM_TYPE, dict(exc.headers))
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return
        except Exception:
            log.exception("demo cloud request %s %s failed", self.command, path)
            close = True
            response = Response(
                500,
                problem_body(500, "internal_error", f"Unexpected error (request {request_id})."),
                PROBLEM_TYPE,
            )
        self._finish(response, request_id, body=body, close=close)

    def _authenticate(self, request: Request, *, demo: bool) -> None:
        rt = self.server.rt
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        token = token.strip()
        account_id = None
        if scheme.lower() == "bearer" and token:
            for known, account in rt.accounts_by_token.items():
                if hmac.compare_digest(known.encode(), token.encode()):
                    account_id = account
        if account_id is None:
            raise ApiError(
                401,
                "unauthorized",
                "Send a valid API token as 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": 'Bearer realm="booth-cloud"'},
            )
        request.token = token
        request.account_id = account_id
        if demo:
            return  # the demo levers must keep working while the token is "revoked"
        if rt.disruptions.is_revoked(token):
            raise ApiError(
                401,
                "token_expired",
                "This API token has expired or was revoked; sign in again to get a new one.",
                headers={"WWW-Authenticate": 'Bearer realm="booth-cloud", error="invalid_token"'},
            )
        wait = rt.limiter.take(token)
        if wait is not None:
            raise ApiError(
                429,
                "rate_limited",
                "Too many requests for this token; slow down.",
                headers={"Retry-After": str(wait)},
            )

    def _captive_portal(self) -> None:
        # Deliberately not cloud-shaped (no X-Request-Id, HTML): it is the venue's gateway talking.
        try:
            if not BodyReader(self.rfile, self.headers).drain(DRAIN_LIMIT):
                self.close_connection = True
        except (ApiError, OSError):
            self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(CAPTIVE_PORTAL_HTML)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(CAPTIVE_PORTAL_HTML)

    def _finish(
        self,
        response: Response,
        request_id: str,
        *,
        body: BodyReader | None,
        close: bool = False,
    ) -> None:
        if body is None:
            close = True  # the request could not even be framed; its bytes cannot be skipped
        elif not close and not body.done:
            try:
                close = not body.drain(DRAIN_LIMIT)
            except (ApiError, OSError):
                close = True
        try:
            self._write(response, request_id, close)
        except OSError:
            self.close_connection = True

    def _write(self, response: Response, request_id: str, close: bool) -> None:
        payload = response.body
        length = len(payload) if isinstance(payload, bytes) else response.length
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(length or 0))
        self.send_header("X-Request-Id", request_id)
        headers = {"Cache-Control": "no-store", **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        if isinstance(payload, bytes):
            self.wfile.write(payload)
        else:
            for chunk in payload:
                self.wfile.write(chunk)
