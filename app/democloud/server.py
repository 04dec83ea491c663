"""DemoCloud: the in-process runner (tests, the tray app's demo mode) and its HTTP plumbing.

Standard library only: ThreadingHTTPServer speaking HTTP/1.1 with keep-alive, one thread per
connection. stop() cuts open keep-alive connections too, so a client sees the cloud vanish the
way it would when a venue network drops, instead of lingering on a half-dead socket.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.democloud import jobs, ledger, routes, seed
from app.democloud.accounts import find_account
from app.democloud.clock import new_id, utcnow
from app.democloud.db import Database
from app.democloud.httpio import BodyReader, Request, Response
from app.democloud.problems import PROBLEM_TYPE, ApiError, problem_body
from app.democloud.ratelimit import RateLimiter
from app.democloud.runtime import Options, Runtime
from app.democloud.worker import Worker

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


class DemoCloud:
    """A running demo cloud on a SQLite file; restarting on the same file keeps all state.

    Beyond the contract's options: `rate_limit` (requests per second per token, 0 disables) and
    `rate_burst`; `extra_tokens` (token -> email) for further accounts, each seeded with a small
    purchase; `max_running_jobs` caps concurrent processing so later jobs wait in "queued".
    """

    def __init__(
        self,
        db_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "demo-token",
        job_failure_rate: float = 0.0,
        seed: int | None = None,
        job_seconds: float = 1.0,
        refund_seconds: float = 5.0,
        rate_limit: float = 50.0,
        rate_burst: int = 100,
        extra_tokens: dict[str, str] | None = None,
        max_running_jobs: int | None = None,
    ) -> None:
        if not token:
            raise ValueError("token must not be empty")
        if not 0.0 <= job_failure_rate <= 1.0:
            raise ValueError("job_failure_rate must be between 0 and 1")
        if job_seconds < 0 or refund_seconds < 0:
            raise ValueError("job_seconds and refund_seconds must not be negative")
        if token in (extra_tokens or {}):
            raise ValueError("extra_tokens must not repeat the main token")
        self.db_path = Path(db_path)
        self.host = host
        self._port = port
        self.options = Options(
            token=token,
            extra_tokens=dict(extra_tokens or {}),
            job_failure_rate=job_failure_rate,
            seed=seed,
            job_seconds=job_seconds,
            refund_seconds=refund_seconds,
            rate_limit=rate_limit,
            rate_burst=rate_burst,
            max_running_jobs=max_running_jobs,
        )
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._db: Database | None = None
        self._worker: Worker | None = None
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self.runtime: Runtime | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            self._stopped.clear()
            db = Database(self.db_path)
            try:
                rt = Runtime(
                    db=db,
                    options=self.options,
                    accounts_by_token=_open_accounts(db, self.options),
                    job_rng=random.Random(self.options.seed),
                    wake_worker=lambda: None,
                    limiter=RateLimiter(self.options.rate_limit, self.options.rate_burst),
                )
                jobs.resume_after_restart(rt)
                worker = Worker(rt)
                rt.wake_worker = worker.wake
                server = _Server((self.host, self._port), rt)
            except BaseException:
                db.close()
                raise
            worker.start()
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="democloud-http",
                daemon=True,
            )
            thread.start()
            self._db, self._worker, self._server, self._serve_thread = db, worker, server, thread
            # A restart of this object comes back on the same URL, as a real cloud would.
            self._port = server.server_address[1]
            self.runtime = rt
            log.info("demo cloud listening on %s", self.url)

    def stop(self) -> None:
        with self._lock:
            server, worker, db = self._server, self._worker, self._db
            self._server = self._worker = self._db = self._serve_thread = None
            self.runtime = None
            if server is not None:
                server.stopping = True
                server.shutdown()  # the accept loop exits within one poll interval
                server.server_close()
                server.close_connections()
            if worker is not None:
                worker.stop()
            if db is not None:
                db.close()
            self._stopped.set()

    def serve_forever(self) -> None:
        """Start if needed and block until stop() (from another thread) or Ctrl+C."""
        self.start()
        try:
            while not self._stopped.wait(0.5):  # a timed wait so Ctrl+C works on Windows too
                pass
        finally:
            self.stop()

    def __enter__(self) -> DemoCloud:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- facts for callers ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        server = self._server
        if server is None:
            raise RuntimeError("the demo cloud is not running")
        port = server.server_address[1]
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def token(self) -> str:
        return self.options.token

    def check_ledger(self) -> None:
        """Raise AssertionError unless every balance equals its ledger, entry by entry."""
        if self._db is None:
            raise RuntimeError("the demo cloud is not running")
        with self._db.read() as conn:
            for account in conn.execute("SELECT id, email, balance_cents FROM accounts"):
                running = 0
                for entry in conn.execute(
                    "SELECT id, amount_cents, balance_after_cents FROM ledger_entries"
                    " WHERE account_id = ? ORDER BY seq",
                    (account["id"],),
                ):
                    running += entry["amount_cents"]
                    if entry["balance_after_cents"] != running:
                        raise AssertionError(
                            f"{entry['id']}: balance_after {entry['balance_after_cents']}"
                            f" but the running sum is {running}"
                        )
                total = ledger.ledger_sum(conn, account["id"])
                if account["balance_cents"] != total or total != running:
                    raise AssertionError(
                        f"{account['email']}: balance {account['balance_cents']} != ledger {total}"
                    )


def _open_accounts(db: Database, options: Options) -> dict[str, int]:
    """Map tokens to accounts, seeding any account that does not exist yet."""
    now = utcnow()
    mapping: dict[str, int] = {}
    with db.tx() as conn:
        account_id = find_account(conn, seed.DEMO_EMAIL)
        if account_id is None:
            account_id = seed.seed_demo_account(conn, now)
        mapping[options.token] = account_id
        for token, email in options.extra_tokens.items():
            extra = find_account(conn, email)
            mapping[token] = (
                extra if extra is not None else seed.seed_extra_account(conn, email, now)
            )
    return mapping


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
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
        super().__init__(address, _Handler)

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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BoothDemoCloud/1"
    # Headers and body go out in separate writes; without this, Nagle plus the client's delayed
    # ACK adds ~40 ms to every small response.
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT
    server: _Server

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
                self._finish(
                    Response(
                        503,
                        problem_body(503, "unavailable", "The cloud is temporarily unavailable."),
                        PROBLEM_TYPE,
                        {"Retry-After": str(outage[1])},
                    ),
                    request_id,
                    body=None,
                )
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
        body = BodyReader(self.rfile, self.headers)
        if not body.drain(DRAIN_LIMIT):
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
            # The request was never framed (outage answer): drop the connection afterwards.
            close = (
                close
                or self.headers.get("Content-Length") not in (None, "0")
                or bool(self.headers.get("Transfer-Encoding"))
            )
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
