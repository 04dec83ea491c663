"""One HTTP/1.1 keep-alive connection for the bandwidth probe, on the standard library only.

Why not httpx like the rest of the cloud client: the probe must see the socket itself (TCP_INFO,
TCP_NOTSENT_LOWAT), write a chunked body it can end early, and stop within a tenth of a second when
cancelled. The socket side (slices, cancel, TLS) is SocketLink in socket_link.py; this adds the
HTTP framing: request heads, response heads and bodies, and what a status code means.
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from typing import Any

from app import __version__
from app.adapters.bandwidth.socket_link import IDLE_TIMEOUT, SocketLink
from app.core.bandwidth import CancelFlag
from app.core.errors import (
    AuthFailed,
    CaptivePortal,
    CloudUnavailable,
    NotConfigured,
    ProtocolError,
    RequestRejected,
)
from app.core.ports import Pacer

MAX_HEAD = 64 * 1024
LOGIN_PAGE_HINT = "A Wi-Fi login page is likely: open a browser and log in to the venue network."


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""

    def json(self, host: str) -> dict[str, Any]:
        try:
            data = json.loads(self.body)
        except ValueError:
            raise ProtocolError(f"The cloud at {host} sent an unreadable speed-test answer.") \
                from None
        if not isinstance(data, dict):
            raise ProtocolError(f"The cloud at {host} sent a speed-test answer of the wrong form.")
        return data


class ProbeConnection(SocketLink):
    """`pacer`: the cloud's rate limit as every process on this booth shares it (issue 14). The
    probe's requests count against the token's bucket like any other, so they take their turn
    and honour Retry-After like the rest of the app."""

    max_pacing_wait = 2.0  # seconds: within the check's budget, beyond a 1 s Retry-After

    def __init__(self, base_url: str, token: str | None, cancel: CancelFlag | None = None,
                 *, ssl_context: ssl.SSLContext | None = None, pacer: Pacer | None = None):
        if not base_url:
            raise NotConfigured("No cloud URL is set.", hint="Set it in Settings or with --cloud.")
        if not token:
            raise NotConfigured("No API token is set.",
                                hint="Enter it in Settings (or set BOOTH_MONITOR_TOKEN).")
        super().__init__(base_url, cancel, ssl_context=ssl_context)
        self._token = token
        self._pacer = pacer

    # -- requests ------------------------------------------------------------------------------

    def path(self, path: str) -> str:
        return f"{self.base_path}{path}"

    def head_bytes(self, method: str, path: str, extra: dict[str, str] | None = None) -> bytes:
        """A request's head, built just before it is sent. Every request of the probe builds
        exactly one, so this is where it waits for its turn under the rate limit (before any
        clock or byte count of the measurement starts)."""
        if self._pacer is not None:
            self._take_turn(self._pacer)
        headers = {
            "Host": self.host,
            "User-Agent": f"booth-credit-monitor/{__version__}",
            "Authorization": f"Bearer {self._token}",
            "Accept-Encoding": "identity",  # payloads are random: compression only costs time
            **(extra or {}),
        }
        lines = [f"{method} {self.path(path)} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def read_head(self, idle: float = IDLE_TIMEOUT) -> Response:
        data = b""
        last_byte = time.monotonic()
        while b"\r\n\r\n" not in data:
            chunk = self.recv_some()
            now = time.monotonic()
            if chunk is None:
                if now - last_byte > idle:
                    raise self.timed_out()
                continue
            if chunk == b"":
                raise self.broken()
            last_byte = now
            data += chunk
            if len(data) > MAX_HEAD:
                raise ProtocolError(f"The cloud at {self.host} sent an oversized answer.")
        head, self._buffer = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        try:
            _version, status_text = lines[0].split(" ", 2)[:2]
            status = int(status_text)
        except ValueError:
            raise ProtocolError(f"The cloud at {self.host} does not speak HTTP.") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if lines[0].startswith("HTTP/1.0") and "keep-alive" not in headers.get("connection", ""):
            headers["connection"] = "close"
        return Response(status, headers)

    def read_body(self, response: Response, limit: int = 4 * 1024 * 1024,
                  idle: float = IDLE_TIMEOUT) -> Response:
        """Read a whole (small) body: Content-Length, chunked or until close."""
        if response.headers.get("transfer-encoding", "").lower() == "chunked":
            response.body = self._read_chunked(limit, idle)
        elif "content-length" in response.headers:
            response.body = self.read_exact(int(response.headers["content-length"]), idle)
        else:
            response.body = self._read_to_close(limit, idle)
            self.close()
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        return response

    def read_exact(self, size: int, idle: float = IDLE_TIMEOUT) -> bytes:
        parts: list[bytes] = []
        got = 0
        last_byte = time.monotonic()
        while got < size:
            chunk = self.recv_some(min(65536, size - got))
            if chunk is None:
                if time.monotonic() - last_byte > idle:
                    raise self.timed_out()
                continue
            if chunk == b"":
                raise self.broken()
            last_byte = time.monotonic()
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def _read_line(self, idle: float) -> bytes:
        data = b""
        while not data.endswith(b"\r\n"):
            data += self.read_exact(1, idle)
            if len(data) > 1024:
                raise ProtocolError(f"The cloud at {self.host} sent a malformed chunk.")
        return data[:-2]

    def _read_chunked(self, limit: int, idle: float) -> bytes:
        body = b""
        while True:
            size_text = self._read_line(idle).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"The cloud at {self.host} sent a malformed chunk.") from None
            if size == 0:
                while self._read_line(idle):
                    pass  # trailers
                return body
            body += self.read_exact(size, idle)
            self.read_exact(2, idle)
            if len(body) > limit:
                raise ProtocolError(f"The cloud at {self.host} sent an oversized answer.")

    def _read_to_close(self, limit: int, idle: float) -> bytes:
        body = b""
        last_byte = time.monotonic()
        while len(body) <= limit:
            chunk = self.recv_some()
            if chunk is None:
                if time.monotonic() - last_byte > idle:
                    raise self.timed_out()
                continue
            if chunk == b"":
                return body
            last_byte = time.monotonic()
            body += chunk
        raise ProtocolError(f"The cloud at {self.host} sent an oversized answer.")

    def request(self, method: str, path: str) -> Response:
        """A small request with a small answer (RTT probe, progress poll)."""
        self.ensure_open()
        self.send_all(self.head_bytes(method, path), time.monotonic() + IDLE_TIMEOUT)
        response = self.read_body(self.read_head())
        self.check_status(response)
        return response

    # -- errors --------------------------------------------------------------------------------

    def check_status(self, response: Response) -> None:
        """Turn a non-2xx or a web page into the error the operator can act on."""
        status = response.status
        ctype = response.headers.get("content-type", "").lower()
        if 300 <= status < 400 or (status < 300 and "html" in ctype):
            raise CaptivePortal(f"A web page answered instead of the cloud at {self.host}.",
                                hint=LOGIN_PAGE_HINT)
        if status < 300:
            return
        if status == 401:
            raise AuthFailed("The cloud refused the API token.",
                             hint="Check the token in Settings.")
        if status == 429 or status >= 500:
            self._note_retry_after(response)
            raise CloudUnavailable(f"The cloud cannot run a speed test now (HTTP {status}).",
                                   hint="It will be retried.")
        if "html" in ctype:
            raise CaptivePortal(f"A web page answered instead of the cloud at {self.host}.",
                                hint=LOGIN_PAGE_HINT)
        raise RequestRejected(f"The cloud refused the speed test (HTTP {status}).",
                              status=status)

    def _take_turn(self, pacer: Pacer) -> None:
        """Wait for a token, but not for long: a check that would wait out a long Retry-After
        (an outage's 30 s) says the cloud cannot be measured now instead of hanging."""
        cancel = self._cancel
        give_up = time.monotonic() + self.max_pacing_wait

        def stop() -> bool:
            return (cancel is not None and cancel.is_set()) or time.monotonic() > give_up

        pacer.acquire(stop)
        self.check_cancel()
        if time.monotonic() > give_up:
            raise CloudUnavailable("The cloud asked for a pause in requests (rate limit or "
                                   "outage); the connection was not checked.",
                                   hint="It will be retried.")

    def _note_retry_after(self, response: Response) -> None:
        """The cloud's Retry-After holds every request of every process, not only the probe's."""
        if self._pacer is None or response.status not in (429, 503):
            return
        try:
            seconds = float(response.headers.get("retry-after", ""))
        except ValueError:
            return
        self._pacer.hold(seconds)

