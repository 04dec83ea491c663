"""The bandwidth probe against the cloud's speed-test endpoints (implements core BandwidthProbe).

Upload counts DELIVERED bytes, never bytes written: bytes written only reach our own socket
buffer, which at 5 Mbps holds seconds of traffic. Two ways, the result says which:

* "tcp_info_acked": Linux tells us how many bytes the server's kernel acknowledged
  (tcpi_bytes_acked, plus the segments it holds beyond a hole: tcpi_sacked x MSS).
  TCP_NOTSENT_LOWAT keeps our unsent backlog small, so stopping early wastes little. The body is
  ended and the server's count read in the background, on that connection, while the download
  runs on a fresh one: the verdict does not wait for a deep queue to drain.
* "server_count": elsewhere, a second small connection polls the server's live count to decide
  when to stop, and the rate is read from the server's own samples and clock at the end.

Download counts bytes received after the first one ("tcp_info_received": the kernel's count,
which does not lag when our process is slow to read; "received" where there is no TCP_INFO) and
closes as soon as the answer is clear. The naive baselines the benchmark compares against are in
naive.py.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from app.adapters.bandwidth.chunked import ChunkedWriter, ProgressPoller, payload_fraction
from app.adapters.bandwidth.connection import ProbeConnection, Response
from app.adapters.bandwidth.socket_link import IDLE_TIMEOUT, tcp_counts, tcp_info
from app.core.bandwidth import (
    CancelFlag,
    Estimate,
    RateWatcher,
    Sample,
    Transfer,
)
from app.core.errors import CaptivePortal, CloudUnreachable, MonitorError, ProtocolError
from app.core.ports import Pacer

SAMPLE_EVERY = 0.05
NOTSENT_LOWAT = 32 * 1024
# After the decision: time allowed to drain what is still queued and read the server's answer.
FINISH_GRACE = 5.0
SETTLE_WAIT = 0.5  # how long close() waits for that, at most
METHODS = ("auto", "tcp_info", "server_count")


Endpoint = Callable[[], tuple[str, "str | None"]]  # () -> (base URL, bearer token)
PacerFor = Callable[[str, "str | None"], Pacer]  # (base URL, token) -> that token's rate limit


class HttpBandwidthProbe:
    """`endpoint` is asked before every connection, so a probe built at start-up follows later
    changes of cloud URL or token (and a missing one becomes an offline result, not a crash).
    `pacer_for` gives the shared rate limit of that URL and token (the app passes the same
    bucket its cloud client uses); without it the probe is not paced (tests, benchmarks)."""

    def __init__(self, endpoint: Endpoint | str, token: str | None = None, *,
                 method: str = "auto", ssl_context: ssl.SSLContext | None = None,
                 pacer_for: PacerFor | None = None):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}")
        if isinstance(endpoint, str):
            fixed = (endpoint, token)
            endpoint = lambda: fixed  # noqa: E731
        self._endpoint = endpoint
        self._method = method
        self._ssl_context = ssl_context
        self._pacer_for = pacer_for

    def new_connection(self, cancel: CancelFlag | None) -> ProbeConnection:
        base_url, token = self._endpoint()
        pacer = self._pacer_for(base_url, token) if self._pacer_for and base_url else None
        return ProbeConnection(base_url, token, cancel, ssl_context=self._ssl_context,
                               pacer=pacer)

    def connect(self, cancel: CancelFlag | None = None) -> HttpProbeLink:
        link = HttpProbeLink(self, self.new_connection(cancel), cancel, self._method)
        try:
            link.warm_up()
        except BaseException:
            link.close()
            raise
        return link


class HttpProbeLink:
    def __init__(self, probe: HttpBandwidthProbe, conn: ProbeConnection,
                 cancel: CancelFlag | None, method: str):
        self._probe = probe
        self._conn = conn
        self._cancel = cancel
        self._method = method
        self.rtt_seconds = 0.0
        self.acked_works = False
        self._finisher: threading.Thread | None = None

    def close(self) -> None:
        self.settle(SETTLE_WAIT)
        self._conn.close(abort=True)

    def settle(self, timeout: float = FINISH_GRACE) -> None:
        """Wait (bounded) for the upload's background finish, so its cross-check is in. One
        still running after that goes on alone, closes its connection and is not waited for:
        the verdict is not held for a cross-check."""
        finisher, self._finisher = self._finisher, None
        if finisher is not None:
            finisher.join(timeout)

    def warm_up(self) -> None:
        """One tiny request: opens the connection, checks the token and that it is really the
        cloud answering (not a login page), times a round trip and checks TCP_INFO is sane."""
        sock = self._conn.ensure_open()
        before = tcp_info(sock)
        head = self._conn.head_bytes("GET", "/v1/speedtest/download?bytes=1")
        started = time.monotonic()
        self._conn.send_all(head, started + IDLE_TIMEOUT)
        response = self._conn.read_body(self._conn.read_head())
        self.rtt_seconds = time.monotonic() - started
        self._conn.check_status(response)
        after = tcp_info(sock)
        if before is not None and after is not None:
            acked = after[0] - before[0]
            # Our request was acknowledged whole before the answer came: anything else means
            # the offset or the field is not what we think, so we do not trust it.
            self.acked_works = len(head) <= acked <= len(head) + 64 * 1024
            if after[1] > 0:
                self.rtt_seconds = min(self.rtt_seconds, after[1])

    # -- upload ---------------------------------------------------------------------------------

    def upload(self, watcher: RateWatcher) -> Transfer:
        use_acked = self._method == "tcp_info" or (self._method == "auto" and self.acked_works)
        if use_acked and not self.acked_works:
            raise ProtocolError("TCP_INFO byte counts are not available on this system.")
        started = time.monotonic()
        probe_id = f"bcm-{secrets.token_hex(6)}"
        sock = self._conn.ensure_open()
        poller = None if use_acked else self._start_poller(probe_id)
        if use_acked:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, NOTSENT_LOWAT)
        extra: dict[str, Any] = {}
        try:
            writer = self._run_upload(watcher, probe_id, use_acked, poller)
            server = None
            if watcher.decision != "stalled":
                if use_acked:
                    self._finish_in_background(watcher, writer, extra)
                else:
                    server = self._finish_upload(writer)
        finally:
            if poller is not None:
                poller.stop()
        estimate = watcher.estimate()
        if server is not None:
            server_estimate = self._server_estimate(watcher, server)
            extra["server_mbps"] = server_estimate.mbps
            extra["server_bytes"] = server_estimate.delivered
            if not use_acked:
                estimate = Estimate(server_estimate.mbps, estimate.decided_by, estimate.seconds,
                                    server_estimate.delivered)
        method = "tcp_info_acked" if use_acked else "server_count"
        return Transfer("up", estimate, writer.wire_written, method,
                        time.monotonic() - started, extra)

    def _finish_in_background(self, watcher: RateWatcher, writer: ChunkedWriter,
                              extra: dict[str, Any]) -> None:
        """End the body and read the server's count on the old connection while the next
        request runs on a new one. `extra` (the transfer's, still ours) gets the count."""
        old = self._conn
        self._conn = self._probe.new_connection(self._cancel)

        def finish() -> None:
            try:
                server = self._finish_upload(writer, old)
                if server is not None:
                    server_estimate = self._server_estimate(watcher, server)
                    extra["server_mbps"] = server_estimate.mbps
                    extra["server_bytes"] = server_estimate.delivered
            except MonitorError as error:  # the cross-check is lost, not the measurement
                extra["server_error"] = type(error).__name__
            finally:
                old.close(abort=True)

        self._finisher = threading.Thread(target=finish, name="bandwidth-finish", daemon=True)
        self._finisher.start()

    def _start_poller(self, probe_id: str) -> ProgressPoller:
        poller = ProgressPoller(self._probe.new_connection(self._cancel), probe_id)
        poller.start()
        return poller

    def _run_upload(self, watcher: RateWatcher, probe_id: str, use_acked: bool,
                    poller: ProgressPoller | None) -> ChunkedWriter:
        conn = self._conn
        sock = conn.ensure_open()
        head = conn.head_bytes("POST", f"/v1/speedtest/upload?probe_id={probe_id}", {
            "Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"})
        counts = tcp_counts(sock) if use_acked else None
        acked_base = (counts.delivered if counts else 0) + len(head)
        conn.send_all(head, time.monotonic() + IDLE_TIMEOUT)
        writer = ChunkedWriter(conn, watcher.policy.byte_cap)
        fraction = payload_fraction()
        t0 = time.monotonic()
        next_sample = t0 + SAMPLE_EVERY
        delivered = 0
        while not watcher.done:
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + SAMPLE_EVERY
                if conn.answered_early():
                    break  # an error answer (401, 413, a portal) before the body ended
                if use_acked:
                    counts = tcp_counts(sock)
                    got = counts.delivered if counts else 0
                    delivered = int(max(0, got - acked_base) * fraction)
                    watcher.add(now - t0, delivered)
                else:
                    assert poller is not None
                    for moment, count in poller.take():
                        delivered = max(delivered, count)
                        watcher.add(max(0.0, moment - t0), count)
                    if poller.error is not None:
                        raise poller.error
                    watcher.add(now - t0, delivered)  # time goes on even without news
                if writer.exhausted and delivered + 64 >= writer.payload_total and not watcher.done:
                    watcher.finish("byte_cap")  # all of the budget arrived
                continue
            if writer.exhausted or (poller is not None and _too_far_ahead(writer, delivered)):
                conn.wait(min(SAMPLE_EVERY, max(0.0, next_sample - now)))
            else:
                writer.write_some()
        if not watcher.done:
            # The server spoke before the body ended: an error answer, or it hung up.
            response = conn.read_body(conn.read_head())
            conn.check_status(response)
            raise ProtocolError("The cloud ended the speed test before it was done.")
        if watcher.decision == "stalled":
            conn.close(abort=True)  # the server is not reading; a graceful end would hang
        return writer

    def _finish_upload(self, writer: ChunkedWriter,
                       conn: ProbeConnection | None = None) -> dict[str, Any] | None:
        """End the body and read the server's count. The decision is already made; a failure
        here only costs the cross-check (and the keep-alive connection)."""
        conn = conn or self._conn
        with contextlib.suppress(OSError, AttributeError):
            # 0 puts the system default back: the rest of the body should leave at once.
            if conn.sock is not None:
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, 0)
        try:
            if not conn.answered_early():
                writer.finish(time.monotonic() + FINISH_GRACE)
            response: Response = conn.read_body(conn.read_head())
            conn.check_status(response)
            return response.json(conn.host)
        except CloudUnreachable as error:
            if isinstance(error, CaptivePortal):
                raise
            conn.close(abort=True)
            return None

    def _server_estimate(self, watcher: RateWatcher, body: dict[str, Any]) -> Estimate:
        raw = body.get("samples")
        if not isinstance(raw, list):
            raise ProtocolError("The cloud's speed-test answer has no samples.")
        try:
            samples = [Sample(float(s["t"]), int(s["bytes"])) for s in raw]
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("The cloud's speed-test samples are not in the expected form.") \
                from None
        # The server's clock starts at its first byte; replay with the same rules, but no cap
        # decides here: the run is over, we only want its post-ramp rate.
        return RateWatcher.replay(watcher.policy, self.rtt_seconds, samples)

    # -- download -------------------------------------------------------------------------------

    def download(self, watcher: RateWatcher) -> Transfer:
        started = time.monotonic()
        size = watcher.policy.byte_cap
        length, first = self._start_download(size)
        conn = self._conn
        t0 = time.monotonic()
        watcher.started_late(t0 - started)  # connect, request and first byte: budget spent
        # The kernel's count where there is one: bytes it received, whether or not this
        # process (on a busy PC) got round to reading them yet. The first byte marks t=0.
        start = tcp_counts(conn.sock) if conn.sock is not None else None
        received = len(first)
        next_sample = t0 + SAMPLE_EVERY
        while not watcher.done and received < length:
            data = conn.recv_some(65536)
            if data == b"":
                raise conn.broken()
            if data:
                received += len(data)
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + SAMPLE_EVERY
                watcher.add(now - t0, self._arrived(start, received - len(first)))
        if received >= length:
            watcher.add(time.monotonic() - t0, self._arrived(start, received - len(first)))
            watcher.finish("finished")
        else:
            conn.close(abort=True)  # the rest of the body is not wanted: stop it now
        method = "tcp_info_received" if start is not None else "received"
        return Transfer("down", watcher.estimate(), received, method,
                        time.monotonic() - started)

    def _arrived(self, start: Any, read: int) -> int:
        """Bytes that arrived since t0: the kernel's count where there is one, else what we
        read. Not the larger of the two: what we read includes what already sat in the socket
        at t0 (a busy process reads the first byte late), which arrived before t0 and so read
        a 40 Mbit/s link several percent high."""
        sock = self._conn.sock
        now = tcp_counts(sock) if start is not None and sock is not None else None
        if now is None:
            return read
        return max(0, now.received - start.received)

    def _start_download(self, size: int) -> tuple[int, bytes]:
        conn = self._conn
        conn.ensure_open()
        conn.send_all(conn.head_bytes("GET", f"/v1/speedtest/download?bytes={size}"),
                      time.monotonic() + IDLE_TIMEOUT)
        response = conn.read_head()
        if response.status >= 300 or "html" in response.headers.get("content-type", "").lower():
            conn.check_status(conn.read_body(response, limit=64 * 1024))
        try:
            length = int(response.headers.get("content-length", size))
        except ValueError:
            raise ProtocolError("The cloud's download has an unreadable length.") from None
        first = conn.read_exact(1) if length else b""
        return length, first

def _too_far_ahead(writer: ChunkedWriter, delivered: int) -> bool:
    # Without TCP_NOTSENT_LOWAT's help (server_count mode) keep the unacknowledged backlog
    # bounded, so ending early does not leave megabytes to drain over a slow link.
    return writer.wire_written - delivered > max(256 * 1024, delivered // 2)
