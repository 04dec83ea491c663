"""One TCP (or TLS) connection that never blocks for long: the socket layer of the probe.

Every blocking call runs in slices of SLICE seconds, checking the cancel flag and a deadline in
between, so a cancelled check stops within a tenth of a second. The HTTP framing on top of it is
in connection.py. Also reads TCP_INFO (bytes the peer acknowledged) where the OS offers it.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.core.bandwidth import CancelFlag, ProbeCancelled
from app.core.errors import CaptivePortal, CloudUnreachable, MonitorError, NotConfigured

SLICE = 0.05  # longest blocking call: bounds how late a cancel or a deadline is noticed
CONNECT_TIMEOUT = 5.0
IDLE_TIMEOUT = 5.0  # no byte either way for this long mid-request: the path is gone

# struct tcp_info (linux/tcp.h): tcpi_snd_mss (__u32) at byte 16, tcpi_sacked (__u32, segments
# the peer holds out of order) at 28, tcpi_rtt (__u32, microseconds) at 68, tcpi_bytes_acked and
# tcpi_bytes_received (__u64, kernel 4.1+) at 120 and 128; checked against loopback transfers.
_TCPI_SND_MSS = 16
_TCPI_SACKED = 28
_TCPI_RTT = 68
_TCPI_BYTES_ACKED = 120
_TCPI_BYTES_RECEIVED = 128
_TCPI_MIN_LEN = _TCPI_BYTES_RECEIVED + 8
# connect_ex on a non-blocking socket: "still connecting" on POSIX and Windows (WSAEWOULDBLOCK).
_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, 10035}


@dataclass(frozen=True)
class TcpCounts:
    acked: int  # bytes the peer acknowledged in order
    sacked: int  # bytes the peer holds beyond a hole (SACKed segments x MSS)
    received: int  # bytes we received in order
    rtt: float  # smoothed RTT, seconds

    @property
    def delivered(self) -> int:
        """Bytes that reached the peer, holes or not: a lost segment holds the in-order count
        back for a round trip or more behind a deep queue, while the link keeps delivering."""
        return self.acked + self.sacked


def tcp_counts(sock: socket.socket) -> TcpCounts | None:
    """The kernel's byte counts for this connection, or None where the OS has no TCP_INFO with
    tcpi_bytes_acked (Windows, macOS, old kernels)."""
    option = getattr(socket, "TCP_INFO", None)
    if option is None:
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, option, 256)
    except OSError:
        return None
    if len(raw) < _TCPI_MIN_LEN:
        return None
    mss, sacked, rtt_us = (struct.unpack_from("=I", raw, o)[0]
                           for o in (_TCPI_SND_MSS, _TCPI_SACKED, _TCPI_RTT))
    acked, received = (struct.unpack_from("=Q", raw, o)[0]
                       for o in (_TCPI_BYTES_ACKED, _TCPI_BYTES_RECEIVED))
    return TcpCounts(acked, sacked * mss, received, rtt_us / 1e6)


def tcp_info(sock: socket.socket) -> tuple[int, float] | None:
    """(bytes acked by the peer, smoothed RTT in seconds), or None without TCP_INFO."""
    counts = tcp_counts(sock)
    return None if counts is None else (counts.acked, counts.rtt)


class SocketLink:
    def __init__(self, base_url: str, cancel: CancelFlag | None = None,
                 *, ssl_context: ssl.SSLContext | None = None):
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotConfigured(f"The cloud URL {base_url!r} is not an http(s) URL.")
        self.tls = parts.scheme == "https"
        self.hostname = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.host = parts.netloc
        self.base_path = parts.path
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

    # -- bytes ---------------------------------------------------------------------------------

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

    def answered_early(self) -> bool:
        """Mid-upload: has the server answered (an error) or hung up before the body ended?"""
        return self._peer_spoke()

    def wait(self, seconds: float) -> None:
        """Idle for up to `seconds` (less if the server says something), cancel-aware."""
        self.check_cancel()
        sock = self._live()
        with contextlib.suppress(OSError, ValueError):
            select.select([sock], [], [], min(seconds, SLICE))

    # -- errors --------------------------------------------------------------------------------

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
