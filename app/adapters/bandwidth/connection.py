"""One HTTP/1.1 keep-alive connection for the bandwidth probe, on the standard library only.

Why not httpx like the rest of the cloud client: the probe must see the socket itself (TCP_INFO,
TCP_NOTSENT_LOWAT), write a chunked body it can end early, and stop within a tenth of a second when
cancelled. So the socket runs with a short timeout slice and every wait loops on that slice,
checking the cancel flag and a deadline in between. TLS uses the default verified context.
"""

from __future__ import annotations

import contextlib
import errno
import json
import select
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app import __version__
from app.core.bandwidth import CancelFlag, ProbeCancelled
from app.core.errors import (
    AuthFailed,
    CaptivePortal,
    CloudUnavailable,
    CloudUnreachable,
    MonitorError,
    NotConfigured,
    ProtocolError,
    RequestRejected,
)

SLICE = 0.05  # longest blocking call: bounds how late a cancel or a deadline is noticed
CONNECT_TIMEOUT = 5.0
IDLE_TIMEOUT = 5.0  # no byte either way for this long mid-request: the path is gone
MAX_HEAD = 64 * 1024
LOGIN_PAGE_HINT = "A Wi-Fi login page is likely: open a browser and log in to the venue network."

# struct tcp_info (linux/tcp.h): tcpi_rtt is a __u32 at byte 68 (microseconds) and
# tcpi_bytes_acked a __u64 at byte 120 (kernel 4.1+); checked against a loopback transfer.
_TCPI_RTT = 68
_TCPI_BYTES_ACKED = 120
_TCPI_MIN_LEN = _TCPI_BYTES_ACKED + 8
# connect_ex on a non-blocking socket: "still connecting" on POSIX and Windows (WSAEWOULDBLOCK).
_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, 10035}


def tcp_info(sock: socket.socket) -> tuple[int, float] | None:
    """(bytes acked by the peer, smoothed RTT in seconds), or None where the OS has no TCP_INFO
    with tcpi_bytes_acked (Windows, macOS, old kernels)."""
    option = getattr(socket, "TCP_INFO", None)
    if option is None:
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, option, 256)
    except OSError:
        return None
    if len(raw) < _TCPI_MIN_LEN:
        return None
    (rtt_us,) = struct.unpack_from("=I", raw, _TCPI_RTT)
    (acked,) = struct.unpack_from("=Q", raw, _TCPI_BYTES_ACKED)
    return acked, rtt_us / 1e6


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


class ProbeConnection:
    def __init__(self, base_url: str, token: str | None, cancel: CancelFlag | None = None,
                 *, ssl_context: ssl.SSLContext | None = None):
        if not base_url:
            raise NotConfigured("No cloud URL is set.", hint="Set it in Settings or with --cloud.")
        if not token:
            raise NotConfigured("No API token is set.", hint="Enter it in Settings.")
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotConfigured(f"The cloud URL {base_url!r} is not an http(s) URL.")
        self.tls = parts.scheme == "https"
        self.hostname = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.host = parts.netloc
        self.base_path = parts.path
        self._token = token
        self._cancel = cancel
        self._ssl_context = ssl_context
        self.sock: socket.socket | None = None
        self._buffer = b""  # bytes read past the end of a response head

    # -- lifecycle ------------------------------------------------------------------------------

    def check_cancel(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            self.close(abort=True)
            raise ProbeCancelled("The connection check was cancelled.")

    def ensure_open(self) -> socket.socket:
        # An idle keep-alive connection on which the server spoke (closed it, or sent something
        # unasked for) is not fit for another request.
        if self.sock is not None and self._peer_spoke():
            self.close()
        if self.sock is None:
            self.sock = self._connect()
            self._buffer = b""
        return self.sock

    def close(self, *, abort: bool = False) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        if abort:
            # Reset instead of a graceful close: bytes still queued in our send buffer would
            # otherwise keep flowing over a metered link after we stopped caring.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.close()

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        try:
            infos = socket.getaddrinfo(self.hostname, self.port, type=socket.SOCK_STREAM)
        except OSError:
            raise CloudUnreachable(f"Cannot find the cloud at {self.host}.",
                                   hint="Check the booth's network connection.") from None
        last: MonitorError = CloudUnreachable(f"Cannot connect to the cloud at {self.host}.")
        for family, kind, proto, _name, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                self._connect_one(sock, address, deadline)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return self._wrap_tls(sock, deadline) if self.tls else sock
            except MonitorError as error:
                sock.close()
                if isinstance(error, (ProbeCancelled, CaptivePortal)):
                    raise
                last = error
        raise last

    def _connect_one(self, sock: socket.socket, address: Any, deadline: float) -> None:
        # Non-blocking connect in slices, so a cancel does not wait out the connect timeout.
        sock.setblocking(False)
        err = sock.connect_ex(address)
        while err in _IN_PROGRESS:
            self.check_cancel()
            if time.monotonic() > deadline:
                raise CloudUnreachable(f"The cloud at {self.host} did not answer in time.",
                                       hint="The venue network may be slow or down.")
            _r, writable, _x = select.select([], [sock], [sock], SLICE)
            if writable:
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                break
        if err:
            raise CloudUnreachable(f"Cannot connect to the cloud at {self.host}.",
                                   hint="Check the booth's network connection.")
        sock.settimeout(SLICE)

    def _wrap_tls(self, sock: socket.socket, deadline: float) -> socket.socket:
        context = self._ssl_context or ssl.create_default_context()
        tls = context.wrap_socket(sock, server_hostname=self.hostname,
                                  do_handshake_on_connect=False)
        while True:
            self.check_cancel()
            try:
                tls.do_handshake()
                return tls
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise CloudUnreachable(f"The cloud at {self.host} did not answer in time.") \
                        from None
            except ssl.SSLCertVerificationError:
                raise CaptivePortal(
                    f"The secure connection to {self.host} could not be verified.",
                    hint="A Wi-Fi login page or a proxy may be in the way: open a browser and "
                    "log in to the venue network.") from None
            except (ssl.SSLError, OSError):
                raise CloudUnreachable(f"The secure connection to {self.host} failed.") \
                    from None

    def _peer_spoke(self) -> bool:
        """Has the server said anything (an answer, or EOF) since our last read? Looked at
        without blocking; bytes found are kept for read_head. TLS housekeeping (a TLS 1.3
        session ticket makes the socket readable without any application data) is not
        speech."""
        sock = self.sock
        if sock is None or self._buffer:
            return self._buffer != b""
        try:
            readable, _w, _x = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        if not readable and not pending:
            return False
        sock.setblocking(False)
        try:
            data = sock.recv(4096)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return False
        except OSError:
            return True
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(SLICE)
        self._buffer = data
        return True  # data, or b"" for EOF: either way the server is done listening

    # -- requests ------------------------------------------------------------------------------

    def path(self, path: str) -> str:
        return f"{self.base_path}{path}"

    def head_bytes(self, method: str, path: str, extra: dict[str, str] | None = None) -> bytes:
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

    def send_all(self, data: bytes | memoryview, deadline: float | None = None) -> None:
        view = memoryview(data)
        while view:
            view = view[self.send_some(view, deadline):]

    def send_some(self, data: memoryview, deadline: float | None = None) -> int:
        """Write what the socket takes within one slice (0 if nothing); raises on cancel,
        deadline or a broken connection."""
        self.check_cancel()
        sock = self._live()
        if deadline is not None and time.monotonic() > deadline:
            raise self.timed_out()
        try:
            return sock.send(data)
        except TimeoutError:
            return 0
        except ssl.SSLWantWriteError:
            return 0
        except OSError:
            raise self.broken() from None

    def recv_some(self, size: int = 65536) -> bytes | None:
        """Bytes within one slice: None if nothing arrived yet, b"" at EOF."""
        self.check_cancel()
        if self._buffer:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
            return data
        sock = self._live()
        try:
            return sock.recv(size)
        except (TimeoutError, ssl.SSLWantReadError):
            return None
        except OSError:
            raise self.broken() from None

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

    def answered_early(self) -> bool:
        """Mid-upload: has the server answered (an error) or hung up before the body ended?"""
        return self._peer_spoke()

    def wait(self, seconds: float) -> None:
        """Idle for up to `seconds` (less if the server says something), cancel-aware."""
        self.check_cancel()
        sock = self._live()
        with contextlib.suppress(OSError, ValueError):
            select.select([sock], [], [], min(seconds, SLICE))

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
            raise CloudUnavailable(f"The cloud cannot run a speed test now (HTTP {status}).",
                                   hint="It will be retried.")
        if "html" in ctype:
            raise CaptivePortal(f"A web page answered instead of the cloud at {self.host}.",
                                hint=LOGIN_PAGE_HINT)
        raise RequestRejected(f"The cloud refused the speed test (HTTP {status}).",
                              status=status)

    def _live(self) -> socket.socket:
        if self.sock is None:
            raise self.broken()
        return self.sock

    def broken(self) -> CloudUnreachable:
        self.close(abort=True)
        return CloudUnreachable(f"The connection to {self.host} broke off mid-check.",
                                hint="The venue network may be unstable.")

    def timed_out(self) -> CloudUnreachable:
        self.close(abort=True)
        return CloudUnreachable(f"The cloud at {self.host} stopped answering mid-check.",
                                hint="The venue network may be slow or down.")
