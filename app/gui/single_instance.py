"""One running copy per data folder, and what a second launch may ask of it.

A second launch hands over to the first ("show"); the installer and the `quit` command ask it
to stop the way the menu's Quit does ("quit"), so the queue is handed back and the store closed
instead of the process being killed mid-write. The local socket is per user (the name carries
a hash of the user and the data folder), so another account on the PC cannot reach it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtNetwork import QLocalServer, QLocalSocket

from app import APP_NAME
from app.adapters.system.paths import resolve_paths
from app.runtime import Options

SHOW_COMMAND = b"show\n"
QUIT_COMMAND = b"quit\n"
CONNECT_MS = 500


def instance_name(options: Options) -> str:
    """Two --home folders (or demo and real) may run side by side; a second launch on the same
    folder hands over to the first."""
    paths = resolve_paths(options.home)
    key = f"{paths.data_dir}|{'demo' if options.demo else ''}"
    user = os.environ.get("USERNAME") or os.environ.get("USER") or ""
    return f"{APP_NAME}-{hashlib.sha256((user + key).encode()).hexdigest()[:16]}"


def _send(name: str, command: bytes) -> QLocalSocket | None:
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_MS):
        return None
    socket.write(command)
    socket.waitForBytesWritten(1000)
    return socket


def hand_over_to_running_copy(name: str) -> bool:
    socket = _send(name, SHOW_COMMAND)
    if socket is None:
        return False
    socket.disconnectFromServer()
    return True


def ask_running_copies_to_quit(options: Options, wait_ms: int) -> tuple[int, int]:
    """Ask the copies on this data folder (the real one and the demo) to quit; returns (asked,
    still running after wait_ms). The running copy keeps the connection open until its last
    moment, so a closed connection means it has let go of the store."""
    sockets = [s for s in (_send(instance_name(o), QUIT_COMMAND)
                           for o in (replace(options, demo=False), replace(options, demo=True)))
               if s is not None]
    left = 0
    for socket in sockets:
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState \
                and not socket.waitForDisconnected(wait_ms):
            left += 1
    return len(sockets), left


def listen(name: str) -> QLocalServer:
    server = QLocalServer()
    QLocalServer.removeServer(name)  # a copy that crashed may have left its socket file behind
    server.listen(name)
    return server


def serve_second_launch(server: QLocalServer, show: Callable[[], None],
                        quit_now: Callable[[], None]) -> None:
    conn = server.nextPendingConnection()
    if conn is None:
        return

    def read() -> None:
        command = bytes(conn.readAll().data())
        if command.startswith(QUIT_COMMAND.strip()):
            quit_now()  # the connection stays open; it closes with the process
            return
        if command.startswith(SHOW_COMMAND.strip()):
            show()
        conn.disconnectFromServer()

    conn.readyRead.connect(read)
