"""A chunked request body of random bytes that can be ended early, and the server's progress poll.

Random bytes because a compressing proxy would otherwise make a slow link look fast. Small chunks
because ending early must finish the chunk under way: the smaller it is, the less is sent after
the decision.
"""

from __future__ import annotations

import os
import threading
import time

from app.adapters.bandwidth.connection import ProbeConnection
from app.core.bandwidth import ProbeCancelled
from app.core.errors import MonitorError

CHUNK = 16 * 1024
_FRAME_OVERHEAD = len(f"{CHUNK:x}\r\n\r\n")
CHUNK_FRAME_MAX = _FRAME_OVERHEAD  # a last, shorter chunk has at most this much framing


def payload_fraction() -> float:
    """Share of wire bytes that are payload (the rest is chunk framing), to turn acked wire bytes
    into delivered payload bytes."""
    return CHUNK / (CHUNK + _FRAME_OVERHEAD)


class ChunkedWriter:
    """`wire_budget` bounds everything written, framing and terminator included: it is what a
    metered hotspot bills."""

    def __init__(self, conn: ProbeConnection, wire_budget: int):
        self._conn = conn
        total = max(0, int(wire_budget * payload_fraction()) - CHUNK_FRAME_MAX - 5)
        self._payload = memoryview(os.urandom(total))
        self._offset = 0
        self._pending = memoryview(b"")
        self.wire_written = 0

    @property
    def payload_total(self) -> int:
        return len(self._payload)

    @property
    def exhausted(self) -> bool:
        return self._offset >= len(self._payload) and not self._pending

    def write_some(self, deadline: float | None = None) -> int:
        if not self._pending:
            if self._offset >= len(self._payload):
                return 0
            piece = self._payload[self._offset:self._offset + CHUNK]
            self._offset += len(piece)
            self._pending = memoryview(b"%x\r\n" % len(piece) + piece.tobytes() + b"\r\n")
        sent = self._conn.send_some(self._pending, deadline)
        self._pending = self._pending[sent:]
        self.wire_written += sent
        return sent

    def finish(self, deadline: float) -> None:
        """Complete the chunk under way and end the body, so the server answers with its count."""
        while self._pending:
            self.write_some(deadline)
        self._conn.send_all(b"0\r\n\r\n", deadline)
        self.wire_written += 5


class ProgressPoller(threading.Thread):
    """Asks the server, on its own small connection, how much of the upload has arrived. Used
    where the OS cannot tell us what the peer acknowledged (no TCP_INFO)."""

    def __init__(self, conn: ProbeConnection, probe_id: str, every: float = 0.1):
        super().__init__(name="bandwidth-progress", daemon=True)
        self._conn = conn
        self._path = f"/v1/speedtest/upload/{probe_id}"
        self._every = every
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._points: list[tuple[float, int]] = []  # (monotonic when answered, bytes received)
        self.error: MonitorError | None = None

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                asked = time.monotonic()
                try:
                    body = self._conn.request("GET", self._path).json(self._conn.host)
                except MonitorError as error:
                    if getattr(error, "status", 0) != 404:  # 404: upload not started yet
                        raise
                else:
                    received = body.get("bytes_received")
                    if isinstance(received, int):
                        # The count is "as of" somewhere inside the round trip: take the middle.
                        moment = (asked + time.monotonic()) / 2
                        with self._lock:
                            self._points.append((moment, received))
                self._halt.wait(self._every)
        except ProbeCancelled:
            pass
        except MonitorError as error:
            self.error = error
        finally:
            self._conn.close()

    def take(self) -> list[tuple[float, int]]:
        with self._lock:
            points, self._points = self._points, []
        return points

    def stop(self) -> None:
        self._halt.set()
