"""A minimal local ndt7 server for the bandwidth matrix's ndt7 column (not a benchmark: the name
starts with _). `python -m benchmarks._ndt7_server HOST PORT [SECONDS]` prints "ready PORT"
once listening (PORT 0: any free one; SECONDS: the test length, 10 as in the spec).

M-Lab's own server (m-lab/ndt-server) is Go and in none of the registries this project may use,
while its client is on npm (@m-lab/ndt7); a client needs a server. This one follows the ndt7
protocol (ndt-server's spec/ndt7-protocol.md, v0.9): WebSocket at /ndt/v7/download and
/ndt/v7/upload with subprotocol net.measurementlab.ndt.v7; for 10 s the server sends binary
messages starting at 8 KiB and doubling once 16 messages' worth has gone (up to 1 MiB), or reads
the client's; every 250 ms it sends a text Measurement with AppInfo and TCPInfo (BytesAcked,
BytesReceived, ElapsedTime in microseconds, from the kernel's TCP_INFO), which is where ndt7's
own figure comes from. No TLS, no access tokens, no BBR: a lab instrument on a shaped veth.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import socketserver
import struct
import sys
import time
from typing import Any

from app.adapters.bandwidth.socket_link import tcp_counts

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
SUBPROTOCOL = "net.measurementlab.ndt.v7"
DURATION = 10.0
MEASURE_EVERY = 0.25
FIRST_SIZE, MAX_SIZE = 1 << 13, 1 << 20


def frame(opcode: int, payload: bytes) -> bytes:
    """A server frame: FIN set, not masked (RFC 6455 section 5.2)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


class Handler(socketserver.BaseRequestHandler):
    duration = DURATION

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.t0 = time.monotonic()
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                return
            head += chunk
        text, _, self.rest = head.partition(b"\r\n\r\n")
        lines = text.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1].split("?")[0]
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
        key = headers.get("sec-websocket-key", "")
        if path not in ("/ndt/v7/download", "/ndt/v7/upload") or not key or \
                SUBPROTOCOL not in headers.get("sec-websocket-protocol", ""):
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n"
                      "Sec-WebSocket-Protocol: " + SUBPROTOCOL + "\r\n\r\n").encode())
        self.t0 = time.monotonic()  # ndt7 times the test from the upgrade
        if path.endswith("download"):
            self.download(sock)
        else:
            self.upload(sock)

    def measurement(self, sock: socket.socket, test: str, app_bytes: int) -> bytes:
        counts = tcp_counts(sock)
        elapsed = int((time.monotonic() - self.t0) * 1e6)
        doc: dict[str, Any] = {"Origin": "server", "Test": test,
                               "AppInfo": {"ElapsedTime": elapsed, "NumBytes": app_bytes}}
        if counts is not None:
            doc["TCPInfo"] = {"BytesAcked": counts.acked, "BytesReceived": counts.received,
                              "RTT": int(counts.rtt * 1e6), "ElapsedTime": elapsed}
        return frame(1, json.dumps(doc).encode())

    def download(self, sock: socket.socket) -> None:
        size, sent, next_measure = FIRST_SIZE, 0, self.t0 + MEASURE_EVERY
        payload = os.urandom(MAX_SIZE)
        try:
            while time.monotonic() - self.t0 < self.duration:
                if size < MAX_SIZE and sent >= 16 * size:
                    size *= 2
                sock.sendall(frame(2, payload[:size]))
                sent += size
                if time.monotonic() >= next_measure:
                    sock.sendall(self.measurement(sock, "download", sent))
                    next_measure += MEASURE_EVERY
            sock.sendall(self.measurement(sock, "download", sent) + frame(8, b"\x03\xe8"))
        except OSError:
            pass

    def upload(self, sock: socket.socket) -> None:
        """The client's frames are only counted, not parsed: TCPInfo.BytesReceived is the
        figure, and the client ends the test by closing."""
        received = len(self.rest)
        next_measure = self.t0 + MEASURE_EVERY
        sock.settimeout(0.05)
        try:
            while time.monotonic() - self.t0 < self.duration + 2.0:
                try:
                    chunk = sock.recv(1 << 16)
                    if not chunk:
                        break
                    received += len(chunk)
                except TimeoutError:
                    pass
                if time.monotonic() >= next_measure:
                    sock.sendall(self.measurement(sock, "upload", received))
                    next_measure += MEASURE_EVERY
                if time.monotonic() - self.t0 >= self.duration:
                    sock.sendall(self.measurement(sock, "upload", received)
                                 + frame(8, b"\x03\xe8"))
                    break
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main(argv: list[str]) -> int:
    host, port = argv[0], int(argv[1])
    if len(argv) > 2:
        Handler.duration = float(argv[2])
    with Server((host, port), Handler) as server:
        print(f"ready {server.server_address[1]}", flush=True)
        server.serve_forever(poll_interval=0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
