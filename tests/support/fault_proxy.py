"""A real HTTP server on loopback that forwards to the demo cloud and injects faults on request.

For the faults the demo cloud cannot make by itself: a connection reset in the middle of an
upload, a reset or a hang after the cloud already acted (the answer is lost), malformed JSON, and
canned statuses. Faults are matched by method and path prefix and used up one at a time.
"""

from __future__ import annotations

import http.client
import os
import socket
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}


@dataclass
class Fault:
    kind: str  # reset_upload | reset_after | hang_after | hang | malformed | status | answer
    method: str = ""
    path: str = ""
    times: int = 1
    status: int = 500
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""  # "answer": what a newer vendor release would say instead

    def matches(self, method: str, path: str) -> bool:
        return (not self.method or method == self.method) and path.startswith(self.path)


class FaultProxy:
    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.hits: list[tuple[str, str, str]] = []  # (method, path, fault kind or "")
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    def inject(self, kind: str, *, method: str = "", path: str = "", times: int = 1,
               status: int = 500, headers: dict[str, str] | None = None,
               body: bytes = b"") -> None:
        with self._lock:
            self._faults.append(Fault(kind, method, path, times, status,
                                      tuple((headers or {}).items()), body))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
        self._release.set()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        server = _QuietServer(("127.0.0.1", self.port), Handler)
        self.port = server.server_address[1]
        self._server = server
        self._release.clear()
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self) -> None:
        """Close the listening socket: new connections are refused until start()."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a reset we made on purpose is not an error worth a traceback


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_GET

    def _handle(self) -> None:
        proxy = self.owner
        fault = proxy.take(self.command, self.path)
        proxy.hits.append((self.command, self.path, fault.kind if fault else ""))
        length = int(self.headers.get("Content-Length") or 0)
        if fault and fault.kind == "reset_upload":
            self.rfile.read(min(length, max(1, length // 3)))  # part of the photo arrived
            return self._reset()
        body = self.rfile.read(length) if length else b""
        if fault and fault.kind == "hang":
            proxy._release.wait(30)
            return self._reset()
        if fault and fault.kind == "malformed":
            return self._reply(200, b'{"id": "job_', {"Content-Type": "application/json"})
        if fault and fault.kind == "answer":
            return self._reply(fault.status, fault.body,
                               {"Content-Type": "application/json", **dict(fault.headers)})
        if fault and fault.kind == "status":
            return self._reply(fault.status, b'{"code": "injected"}',
                               {"Content-Type": "application/problem+json",
                                **dict(fault.headers)})
        status, headers, payload = self._forward(body)
        if fault and fault.kind == "reset_after":  # the cloud acted; its answer is lost
            return self._reset()
        if fault and fault.kind == "hang_after":
            proxy._release.wait(30)
            return self._reset()
        self._reply(status, payload, headers)

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        up = self.owner.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            out = {k: v for k, v in response.getheaders()
                   if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"}
            return response.status, out, payload
        finally:
            conn.close()

    def _reply(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST: the client sees a reset, not a
        # polite end of stream.
        linger = struct.pack("HH" if os.name == "nt" else "ii", 1, 0)  # Winsock: two u_shorts
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        self.close_connection = True
        self.connection.close()
