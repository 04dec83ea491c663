"""A tiny misbehaving HTTP server on loopback: captive portals, servers that stop reading or die.

The demo cloud is well behaved on purpose; these are the networks a booth really meets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Callable

Handler = Callable[[socket.socket, "RawServer"], None]


class RawServer:
    def __init__(self, handler: Handler, *, rcvbuf: int | None = None):
        self._handler = handler
        self._listener = socket.socket()
        if rcvbuf is not None:
            # Set before listen(): a small window makes "stopped reading" visible quickly.
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.release = threading.Event()  # handlers that hang wait on this
        self.requests: list[bytes] = []  # request heads, in arrival order
        self.peer_gone = threading.Event()  # a handler saw the client close or reset
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()
        return f"http://{host}:{port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self._handler(conn, self)

    def read_head(self, conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0]
        self.requests.append(head)
        return head

    def close(self) -> None:
        self.release.set()
        self._listener.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()


def respond(conn: socket.socket, status: int, ctype: str, body: bytes) -> None:
    conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


def wait_for_eof(conn: socket.socket, server: RawServer) -> None:
    """Drain until the client closes (or resets); then flag it."""
    conn.settimeout(10)
    with contextlib.suppress(OSError):
        while conn.recv(65536):
            pass
    server.peer_gone.set()


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


# -- behaviours -----------------------------------------------------------------------------------

PORTAL = b"<html><body><h1>Welcome to the venue Wi-Fi</h1><form>Accept</form></body></html>"


def captive_portal(conn: socket.socket, server: RawServer) -> None:
    while True:
        server.read_head(conn)
        respond(conn, 200, "text/html; charset=utf-8", PORTAL)


def unauthorized(conn: socket.socket, server: RawServer) -> None:
    server.read_head(conn)
    respond(conn, 401, "application/problem+json", b'{"code": "unauthorized"}')


def _warm_up(conn: socket.socket, server: RawServer) -> bytes:
    """Answer the probe's tiny first request like the cloud; return the next request's head."""
    server.read_head(conn)
    respond(conn, 200, "application/octet-stream", b"x")
    return server.read_head(conn)


def stops_reading_upload(conn: socket.socket, server: RawServer) -> None:
    """Takes the upload's headers, then never reads another byte (a hung server)."""
    _warm_up(conn, server)
    server.release.wait(30)


def slow_reader_until_released(conn: socket.socket, server: RawServer) -> None:
    """Reads the upload slowly for ever; notices when the client goes."""
    _warm_up(conn, server)
    conn.settimeout(0.05)
    while not server.release.is_set():
        try:
            if conn.recv(4096) == b"":
                server.peer_gone.set()
                return
        except TimeoutError:
            continue
        except OSError:
            server.peer_gone.set()
            return
        server.release.wait(0.005)


def dies_mid_upload(conn: socket.socket, server: RawServer) -> None:
    """Takes 200 kB of the upload, then the host is gone (connection reset)."""
    _warm_up(conn, server)
    got = 0
    while got < 200_000:
        chunk = conn.recv(65536)
        if not chunk:
            return
        got += len(chunk)
    reset(conn)


class TlsProxy:
    """Terminates TLS on loopback and forwards to a plain-HTTP server, so the probe's https path
    (verified handshake, TCP_INFO under TLS) runs against the real demo cloud."""

    def __init__(self, target: tuple[str, int], context: ssl.SSLContext):
        self._target = target
        self._context = context
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("TLS proxy did not start")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._context))
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


FIRST_BYTE_DELAY = 0.3


def slow_first_byte(conn: socket.socket, server: RawServer) -> None:
    """The download's answer starts FIRST_BYTE_DELAY late (a deep queue, a far server)."""
    _warm_up(conn, server)
    server.release.wait(FIRST_BYTE_DELAY)
    respond(conn, 200, "application/octet-stream", bytes(200_000))


BACKLOG = 60_000


def download_with_a_backlog(conn: socket.socket, server: RawServer) -> None:
    """The download's head and its first BACKLOG bytes in one write, then a pause, then the
    rest: at the client's first byte the socket already holds data that arrived before it."""
    _warm_up(conn, server)
    rest = 240_000
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                 f"Content-Length: {BACKLOG + rest}\r\n\r\n".encode() + bytes(BACKLOG))
    server.release.wait(0.2)
    conn.sendall(bytes(rest))
