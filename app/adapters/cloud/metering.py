"""Passive bandwidth readings from the cloud client's own transfers (issue 14).

httpx (through httpcore) owns the sockets of the photo uploads and result downloads. A network
backend wrapped around httpcore's keeps every connection's stream, so the bytes the kernel
delivered can be sampled while a photo goes up or a result comes down, the way the probe samples
its own transfers: `tcpi_bytes_acked` + SACKed segments for uploads, `tcpi_bytes_received` for
downloads (app/adapters/bandwidth/socket_link.tcp_counts). Where the OS has no TCP_INFO, no
passive reading is taken (the preflight's probe, with the server's count, still works there).

A transfer is recorded only while a Recorder is set for the calling thread (httpx's sync client
writes and reads in the thread that sent the request); everything else passes straight through.
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpcore

from app.adapters.bandwidth.socket_link import TcpCounts, tcp_counts
from app.core.bandwidth_passive import PassiveReading, Unused, read_transfer
from app.core.bandwidth_rate import Sample

PIECE = 64 * 1024  # a large body is written in pieces so delivery can be sampled in between
SAMPLE_EVERY = 0.05
IDLE_GAP = 0.2  # no new byte for this long: the sender had nothing to send (or a hole)

_local = threading.local()


class Recorder:
    """Delivered-byte samples of one transfer: (t since its first byte, bytes delivered)."""

    def __init__(self, direction: str):
        self.direction = direction
        self.samples: list[Sample] = []
        self.idle: list[bool] = []
        self.rtt = 0.0
        self.written = 0
        self.available = True  # False once a socket without TCP_INFO was seen
        self.sock: Any = None
        self._base: TcpCounts | None = None
        self._t0 = 0.0
        self._last_sample = 0.0
        self._last_progress = 0.0

    @property
    def started(self) -> bool:
        return self._base is not None

    def _count(self, counts: TcpCounts) -> int:
        assert self._base is not None
        if self.direction == "up":
            return max(0, counts.delivered - self._base.delivered)
        return max(0, counts.received - self._base.received)

    def sample(self, sock: Any, *, force: bool = False) -> int:
        """Take a sample now (at most every 50 ms unless forced); returns bytes delivered."""
        counts = tcp_counts(sock) if sock is not None else None
        if counts is None:
            self.available = False
            return 0
        now = time.monotonic()
        if self._base is None:
            self._base, self._t0, self.sock = counts, now, sock
            self._last_sample = self._last_progress = now
            return 0
        delivered = self._count(counts)
        if counts.rtt > 0:
            self.rtt = counts.rtt if not self.rtt else min(self.rtt, counts.rtt)
        if not force and now - self._last_sample < SAMPLE_EVERY:
            return delivered
        previous = self.samples[-1].delivered if self.samples else 0
        idle = delivered <= previous and now - self._last_progress >= IDLE_GAP
        if delivered > previous:
            self._last_progress = now
        self.samples.append(Sample(now - self._t0, delivered))
        self.idle.append(idle)
        self._last_sample = now
        return delivered


    def finish(self) -> None:
        if self.sock is not None and self.available:
            with contextlib.suppress(OSError):
                self.sample(self.sock, force=True)

    def reading(self, measured_at: datetime) -> PassiveReading | Unused:
        method = "tcp_info_acked" if self.direction == "up" else "tcp_info_received"
        source = "job upload" if self.direction == "up" else "result download"
        if not self.available:
            return Unused(self.direction, "no_tcp_info")
        return read_transfer(self.direction, self.samples, self.idle, rtt_seconds=self.rtt,
                             measured_at=measured_at, method=method, source=source)


def current() -> Recorder | None:
    return getattr(_local, "recorder", None)


@contextlib.contextmanager
def recording(recorder: Recorder | None) -> Iterator[None]:
    previous = current()
    _local.recorder = recorder
    try:
        yield
    finally:
        _local.recorder = previous


class MeteringStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    @property
    def _sock(self) -> Any:
        return self._inner.get_extra_info("socket")

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        rec = current()
        if rec is None or rec.direction != "up" or not rec.available:
            self._inner.write(buffer, timeout)
            return
        view = memoryview(buffer)
        if not rec.started:
            rec.sample(self._sock)
        for start in range(0, len(view), PIECE):
            piece = view[start:start + PIECE]
            self._inner.write(bytes(piece), timeout)
            rec.written += len(piece)
            rec.sample(self._sock)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        rec = current()
        sock = self._sock
        if rec is not None and rec.direction == "up" and rec.started and rec.available:
            self._sample_until_answered(rec, sock, timeout)
        data = self._inner.read(max_bytes, timeout)
        if rec is not None and rec.direction == "down" and rec.available and data:
            rec.sample(sock)
        return data

    @staticmethod
    def _sample_until_answered(rec: Recorder, sock: Any, timeout: float | None) -> None:
        """The body is written; the kernel still holds part of it. Keep sampling until all of
        it is acknowledged or the answer comes (not after: the server's thinking time is not
        the link's)."""
        deadline = time.monotonic() + (timeout or 30.0)
        while time.monotonic() < deadline:
            delivered = rec.sample(sock, force=False)
            if delivered >= rec.written or not rec.available:
                rec.sample(sock, force=True)
                return
            try:
                readable, _w, _x = select.select([sock], [], [], SAMPLE_EVERY / 2)
            except (OSError, ValueError):
                return
            if readable:
                rec.sample(sock, force=True)
                return

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return MeteringStream(self._inner.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class MeteringBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend):
        self._inner = inner

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return MeteringStream(self._inner.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return MeteringStream(self._inner.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
