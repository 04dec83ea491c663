"""The one place every request of the cloud client passes: pacing and passive readings.

HttpCloud takes this as its httpx transport. Before each request it takes a token from the
shared rate-limit bucket (app/adapters/store/pacing_repo.py), after a 429 or 503 it passes the
cloud's Retry-After to the bucket (so every process waits, not just the thread that was told),
and it measures photo uploads (POST /v1/jobs) and result downloads (GET /v1/jobs/{id}/result)
on their own connections (metering.py), handing each finished transfer to `on_transfer`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx

from app.adapters.cloud.metering import MeteringBackend, Recorder, recording
from app.adapters.store.db import Database
from app.adapters.store.pacing_repo import Limit, SharedBucket
from app.adapters.store.probes_repo import ProbesRepo
from app.core.bandwidth_passive import PassiveReading
from app.core.ports import Pacer

log = logging.getLogger(__name__)

_RESULT = re.compile(r"/v1/jobs/[^/]+/result$")


TransferSink = Callable[[Recorder], None]


def metered_direction(request: httpx.Request) -> str | None:
    path = request.url.path
    if request.method == "POST" and path.endswith("/v1/jobs"):
        return "up"
    if request.method == "GET" and _RESULT.search(path):
        return "down"
    return None


class CloudTransport(httpx.BaseTransport):
    def __init__(self, pacer: Pacer | None = None, on_transfer: TransferSink | None = None,
                 inner: httpx.HTTPTransport | None = None):
        self._inner = inner or httpx.HTTPTransport()
        pool = getattr(self._inner, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        self._metering = on_transfer is not None and backend is not None
        if self._metering:
            # httpcore's pool has no public hook for its streams; wrapping its backend is the
            # narrowest one (and checked by tests/adapters/test_cloud_transport.py).
            pool._network_backend = MeteringBackend(backend)  # type: ignore[union-attr]
        self._pacer = pacer
        self._on_transfer = on_transfer
        self._closers: list[Callable[[], None]] = []

    def on_close(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._pacer is not None:
            self._pacer.acquire()
        direction = metered_direction(request) if self._metering else None
        recorder = Recorder(direction) if direction else None
        with recording(recorder if direction == "up" else None):
            response = self._inner.handle_request(request)
        self._note_throttle(response)
        if recorder is not None and direction == "up" and response.status_code < 300:
            self._emit(recorder)
        elif recorder is not None and response.status_code == 200:
            return httpx.Response(response.status_code, headers=response.headers,
                                  stream=_MeteredBody(response.stream, recorder, self._emit),
                                  extensions=response.extensions)
        return response

    def _note_throttle(self, response: httpx.Response) -> None:
        if self._pacer is None or response.status_code not in (429, 503):
            return
        value = response.headers.get("retry-after", "")
        try:
            seconds = float(value)
        except ValueError:
            return
        self._pacer.hold(seconds)

    def _emit(self, recorder: Recorder) -> None:
        if self._on_transfer is None or not recorder.samples:
            return
        try:
            self._on_transfer(recorder)
        except Exception:  # a reading is a by-product: it must never fail the job's request
            log.exception("passive bandwidth reading not recorded")

    def close(self) -> None:
        self._inner.close()
        while self._closers:
            self._closers.pop()()


class _MeteredBody(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, recorder: Recorder,
                 done: TransferSink):
        self._inner = inner
        self._recorder = recorder
        self._done = done
        self._finished = False

    def __iter__(self) -> Iterator[bytes]:
        iterator = iter(self._inner)
        while True:
            with recording(self._recorder):
                chunk = next(iterator, None)
            if chunk is None:
                break
            yield chunk
        self._finished = True

    def close(self) -> None:
        self._inner.close()
        if self._finished:
            self._recorder.finish()
            self._done(self._recorder)


def bucket_key(base_url: str, token: str | None) -> str:
    """The cloud limits per token: one bucket per cloud and token, named without the token."""
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{token or ''}".encode()).hexdigest()[:16]


def shared_bucket(db: Database, base_url: str, token: str | None,
                  limit: Limit | None = None) -> SharedBucket:
    """The bucket of this cloud and token: the same row whichever process or client asks."""
    return SharedBucket(db, bucket_key(base_url, token), limit)


def cloud_transport(store_file: Path, base_url: str, token: str | None,
                    clock: Callable[[], datetime], limit: Limit | None = None
                    ) -> CloudTransport:
    """The app's transport: its own connection to the shared store (so a request waiting for
    the rate limit never holds the lock another thread of ours reads the store with), the
    shared bucket, and passive readings recorded beside the probe's results."""
    db = Database(store_file)
    bucket = shared_bucket(db, base_url, token, limit)
    readings = ProbesRepo(db)

    def record(recorder: Recorder) -> None:
        reading = recorder.reading(clock())
        if isinstance(reading, PassiveReading):
            readings.record_passive(reading)
        else:
            log.debug("%s not used as a bandwidth reading: %s", recorder.direction, reading.why)

    transport = CloudTransport(bucket, record)
    transport.on_close(db.close)
    return transport
