"""The bandwidth probe against the cloud's speed-test endpoints (implements core BandwidthProbe).

Upload counts DELIVERED bytes, never bytes written: bytes written only reach our own socket
buffer, which at 5 Mbps holds seconds of traffic. Two ways, the result says which:

* "tcp_info_acked": Linux tells us how many bytes the server's kernel acknowledged
  (tcpi_bytes_acked). TCP_NOTSENT_LOWAT keeps our unsent backlog small, so stopping early wastes
  little and the chunked body ends quickly.
* "server_count": elsewhere, a second small connection polls the server's live count to decide
  when to stop, and the rate is read from the server's own samples and clock at the end.

Download counts bytes received after the first one and closes as soon as the answer is clear.
"bytes_written"/"received_wall" are the naive baselines the benchmark compares against.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from app.adapters.bandwidth.chunked import ChunkedWriter, ProgressPoller, payload_fraction
from app.adapters.bandwidth.connection import ProbeConnection, Response
from app.adapters.bandwidth.socket_link import IDLE_TIMEOUT, tcp_info
from app.core.bandwidth import (
    CancelFlag,
    Estimate,
    ProbePolicy,
    RateWatcher,
    Sample,
    Transfer,
    mbps,
)
from app.core.errors import CaptivePortal, CloudUnreachable, ProtocolError

SAMPLE_EVERY = 0.05
NOTSENT_LOWAT = 32 * 1024
# After the decision: time allowed to drain what is still queued and read the server's answer.
FINISH_GRACE = 5.0
METHODS = ("auto", "tcp_info", "server_count")


Endpoint = Callable[[], tuple[str, "str | None"]]  # () -> (base URL, bearer token)


class HttpBandwidthProbe:
    """`endpoint` is asked before every connection, so a probe built at start-up follows later
    changes of cloud URL or token (and a missing one becomes an offline result, not a crash)."""

    def __init__(self, endpoint: Endpoint | str, token: str | None = None, *,
                 method: str = "auto", ssl_context: ssl.SSLContext | None = None):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}")
        if isinstance(endpoint, str):
            fixed = (endpoint, token)
            endpoint = lambda: fixed  # noqa: E731
        self._endpoint = endpoint
        self._method = method
        self._ssl_context = ssl_context

    def new_connection(self, cancel: CancelFlag | None) -> ProbeConnection:
        base_url, token = self._endpoint()
        return ProbeConnection(base_url, token, cancel, ssl_context=self._ssl_context)

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

    def close(self) -> None:
        self._conn.close(abort=True)

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
        try:
            writer, server = self._run_upload(watcher, probe_id, use_acked, poller)
        finally:
            if poller is not None:
                poller.stop()
            with contextlib.suppress(OSError, AttributeError):
                # 0 puts the system default back for the rest of the keep-alive connection.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, 0)
        estimate = watcher.estimate()
        extra: dict[str, Any] = {}
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

    def _start_poller(self, probe_id: str) -> ProgressPoller:
        poller = ProgressPoller(self._probe.new_connection(self._cancel), probe_id)
        poller.start()
        return poller

    def _run_upload(self, watcher: RateWatcher, probe_id: str, use_acked: bool,
                    poller: ProgressPoller | None) -> tuple[ChunkedWriter, dict[str, Any] | None]:
        conn = self._conn
        sock = conn.ensure_open()
        head = conn.head_bytes("POST", f"/v1/speedtest/upload?probe_id={probe_id}", {
            "Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"})
        info = tcp_info(sock) if use_acked else None
        acked_base = (info[0] if info else 0) + len(head)
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
                    info = tcp_info(sock)
                    delivered = int(max(0, (info[0] if info else 0) - acked_base) * fraction)
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
            return writer, None
        return writer, self._finish_upload(writer)

    def _finish_upload(self, writer: ChunkedWriter) -> dict[str, Any] | None:
        """End the body and read the server's count. The decision is already made; a failure
        here only costs the cross-check (and the keep-alive connection)."""
        conn = self._conn
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
        received = len(first)  # the first bytes mark t=0 and are not counted in the rate
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
                watcher.add(now - t0, received - len(first))
        if received >= length:
            watcher.add(time.monotonic() - t0, received - len(first))
            watcher.finish("finished")
        else:
            conn.close(abort=True)  # the rest of the body is not wanted: stop it now
        return Transfer("down", watcher.estimate(), received, "received",
                        time.monotonic() - started)

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

    # -- naive baselines (benchmark only) -------------------------------------------------------

    def naive_upload(self, policy: ProbePolicy) -> Transfer:
        """What most speed tests do: bytes written into the socket / time spent writing."""
        conn = self._conn
        started = time.monotonic()
        conn.ensure_open()
        probe_id = f"bcm-naive-{secrets.token_hex(4)}"
        head = conn.head_bytes("POST", f"/v1/speedtest/upload?probe_id={probe_id}", {
            "Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"})
        conn.send_all(head, time.monotonic() + IDLE_TIMEOUT)
        writer = ChunkedWriter(conn, policy.byte_cap)
        t0 = time.monotonic()
        while not writer.exhausted and time.monotonic() - t0 < policy.time_cap_seconds:
            writer.write_some()
        seconds = time.monotonic() - t0
        rate = mbps(writer.wire_written, seconds)
        self._finish_upload(writer)
        estimate = Estimate(rate, "naive", seconds, writer.wire_written)
        return Transfer("up", estimate, writer.wire_written, "bytes_written",
                        time.monotonic() - started)

    def naive_download(self, policy: ProbePolicy) -> Transfer:
        """Bytes received / wall time from the request on, slow start included."""
        started = time.monotonic()
        length, first = self._start_download(policy.byte_cap)
        received = len(first)
        while received < length and time.monotonic() - started < policy.time_cap_seconds:
            data = self._conn.recv_some(65536)
            if data == b"":
                raise self._conn.broken()
            received += len(data or b"")
        seconds = time.monotonic() - started
        if received < length:
            self._conn.close(abort=True)
        estimate = Estimate(mbps(received, seconds), "naive", seconds, received)
        return Transfer("down", estimate, received, "received_wall", seconds)


def _too_far_ahead(writer: ChunkedWriter, delivered: int) -> bool:
    # Without TCP_NOTSENT_LOWAT's help (server_count mode) keep the unacknowledged backlog
    # bounded, so ending early does not leave megabytes to drain over a slow link.
    return writer.wire_written - delivered > max(256 * 1024, delivered // 2)
