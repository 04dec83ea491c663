"""What most speed tests do, on the probe's own connection: the benchmark's naive baseline.

Upload = bytes written into the socket / time spent writing; download = bytes received / wall
time from the request, slow start included. Same caps as the probe (time cap, byte cap).
"""

from __future__ import annotations

import secrets
import time

from app.adapters.bandwidth.chunked import ChunkedWriter
from app.adapters.bandwidth.probe import HttpProbeLink
from app.adapters.bandwidth.socket_link import IDLE_TIMEOUT
from app.core.bandwidth import Estimate, ProbePolicy, Transfer, mbps


def naive_upload(link: HttpProbeLink, policy: ProbePolicy) -> Transfer:
    conn = link._conn
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
    link._finish_upload(writer)
    estimate = Estimate(rate, "naive", seconds, writer.wire_written)
    return Transfer("up", estimate, writer.wire_written, "bytes_written",
                    time.monotonic() - started)


def naive_download(link: HttpProbeLink, policy: ProbePolicy) -> Transfer:
    conn = link._conn
    started = time.monotonic()
    length, first = link._start_download(policy.byte_cap)
    received = len(first)
    while received < length and time.monotonic() - started < policy.time_cap_seconds:
        data = conn.recv_some(65536)
        if data == b"":
            raise conn.broken()
        received += len(data or b"")
    seconds = time.monotonic() - started
    if received < length:
        conn.close(abort=True)
    estimate = Estimate(mbps(received, seconds), "naive", seconds, received)
    return Transfer("down", estimate, received, "received_wall", seconds)
