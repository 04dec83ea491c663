"""Bandwidth probes for the booth's pre-event check.

Upload speed is measured where the bytes arrive: a client only knows how fast it handed bytes to
its own socket buffer (and any proxy in between), which on a venue network can be megabytes ahead
of what actually crossed the uplink.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.democloud.problems import ApiError, bad_request, not_found, unprocessable

MAX_BYTES = 16 * 1024 * 1024
READ_SIZE = 64 * 1024
SAMPLE_INTERVAL = 0.05
KEEP_PROBES = 64
_PROBE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Body(Protocol):
    expected_length: int | None

    def read_some(self, max_bytes: int) -> bytes: ...


@dataclass
class Probe:
    probe_id: str
    bytes_received: int = 0
    first_byte_at: float | None = None
    last_byte_at: float | None = None
    done: bool = False
    samples: list[dict[str, float | int]] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        if self.first_byte_at is None or self.last_byte_at is None:
            return 0.0
        return round(self.last_byte_at - self.first_byte_at, 6)

    def progress_json(self) -> dict[str, Any]:
        return {
            "probe_id": self.probe_id,
            "bytes_received": self.bytes_received,
            "server_elapsed_seconds": self.elapsed,
            "done": self.done,
        }

    def result_json(self) -> dict[str, Any]:
        return {
            "probe_id": self.probe_id,
            "bytes_received": self.bytes_received,
            "server_elapsed_seconds": self.elapsed,
            "samples": list(self.samples),
        }


class ProbeRegistry:
    """The most recent probes per server, so another connection can watch one in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._probes: OrderedDict[tuple[int, str], Probe] = OrderedDict()

    def open(self, account_id: int, probe_id: str) -> Probe:
        probe = Probe(probe_id)
        with self._lock:
            self._probes.pop((account_id, probe_id), None)
            self._probes[(account_id, probe_id)] = probe
            while len(self._probes) > KEEP_PROBES:
                self._probes.popitem(last=False)
        return probe

    def get(self, account_id: int, probe_id: str) -> Probe:
        with self._lock:
            probe = self._probes.get((account_id, probe_id))
        if probe is None:
            raise not_found("No upload probe with this id (only recent probes are kept).")
        return probe


def probe_id_from(raw: str | None) -> str:
    if raw is None:
        return f"probe_{secrets.token_hex(6)}"
    if not _PROBE_ID.match(raw):
        raise unprocessable("probe_id must be 1-64 characters from A-Z a-z 0-9 . _ -")
    return raw


def receive_upload(body: Body, probe: Probe) -> None:
    """Count the body as it arrives, in small reads, sampling progress at least 50 ms apart."""
    if body.expected_length is not None and body.expected_length > MAX_BYTES:
        probe.done = True
        raise ApiError(413, "payload_too_large", f"Upload probes are limited to {MAX_BYTES} bytes.")
    last_sample = -1.0
    try:
        while True:
            chunk = body.read_some(READ_SIZE)
            if not chunk:
                break
            now = time.monotonic()
            if probe.first_byte_at is None:
                probe.first_byte_at = now
            probe.bytes_received += len(chunk)
            probe.last_byte_at = now
            if probe.bytes_received > MAX_BYTES:
                raise ApiError(
                    413, "payload_too_large", f"Upload probes are limited to {MAX_BYTES} bytes."
                )
            t = now - probe.first_byte_at
            if last_sample < 0 or t - last_sample >= SAMPLE_INTERVAL:
                probe.samples.append({"t": round(t, 6), "bytes": probe.bytes_received})
                last_sample = t
        if probe.samples and probe.samples[-1]["bytes"] != probe.bytes_received:
            probe.samples.append({"t": probe.elapsed, "bytes": probe.bytes_received})
    finally:
        probe.done = True


def download_size(raw: str | None) -> int:
    if raw is None:
        raise bad_request("The bytes query parameter is required.")
    if not raw.isdigit():
        raise bad_request("bytes must be a whole number.")
    size = int(raw)
    if not 1 <= size <= MAX_BYTES:
        raise unprocessable(f"bytes must be between 1 and {MAX_BYTES}.")
    return size


def random_chunks(size: int) -> Iterator[bytes]:
    # Incompressible on purpose: a compressing proxy must not make a slow link look fast.
    remaining = size
    while remaining > 0:
        n = min(READ_SIZE, remaining)
        yield os.urandom(n)
        remaining -= n
