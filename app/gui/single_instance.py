"""One running copy per data folder, and what a second launch may ask of it.

A second launch hands over to the first ("show"); the installer and the `quit` command ask it
to stop the way the menu's Quit does ("quit"), so the queue is handed back and the store closed
instead of the process being killed mid-write. The local socket is per user (the name carries
a hash of the user and the data folder), so another account on the PC cannot reach it."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtNetwork import QLocalServer, QLocalSocket

from app import APP_NAME
from app.adapters.system.paths import resolve_paths
from app.adapters.system.processes import wait_for_exit
from app.runtime import Options

SHOW_COMMAND = b"show\n"
QUIT_COMMAND = b"quit\n"
QUITTING = b"quitting"  # the answer to QUIT_COMMAND, followed by the process id
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
    still running after wait_ms). A copy is counted as stopped once its process has ended: it
    answers with its process id, and keeps the connection open until it has let go of the
    store, but Python and Qt still tear down for a while after that. A copy too old to answer
    is stopped once the connection is closed and its single-instance server is gone."""
    deadline = time.monotonic() + max(wait_ms, 0) / 1000
    asked = [(instance_name(o), s) for o in (replace(options, demo=False),
                                             replace(options, demo=True))
             if (s := _send(instance_name(o), QUIT_COMMAND)) is not None]
    left = 0
    for name, socket in asked:
        if not _stopped(name, socket, deadline):
            left += 1
    return len(asked), left


def _ms_left(deadline: float) -> int:
    return max(0, int((deadline - time.monotonic()) * 1000))


def _stopped(name: str, socket: QLocalSocket, deadline: float) -> bool:
    pid = _quitting_pid(socket, deadline)
    if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState \
            and not socket.waitForDisconnected(_ms_left(deadline)):
        return False
    if pid is not None:
        return wait_for_exit(pid, _ms_left(deadline) / 1000)
    while _listening(name):  # an older copy that does not say its process id
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _quitting_pid(socket: QLocalSocket, deadline: float) -> int | None:
    """The process id in the copy's answer ("quitting PID"), or None from one too old to say."""
    while not socket.canReadLine():
        if socket.state() != QLocalSocket.LocalSocketState.ConnectedState \
                or not socket.waitForReadyRead(_ms_left(deadline) or 1):
            break
    line = bytes(socket.readLine().data()).strip() if socket.canReadLine() else b""
    word, _, pid = line.partition(b" ")
    return int(pid) if word == QUITTING and pid.isdigit() else None


def _listening(name: str) -> bool:
    probe = QLocalSocket()
    probe.connectToServer(name)
    if not probe.waitForConnected(CONNECT_MS):
        return False
    probe.disconnectFromServer()  # sends nothing: the copy reads no command from it
    return True


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
            # Who is quitting: `quit` waits for this process to end, not just the connection.
            conn.write(QUITTING + b" " + str(os.getpid()).encode() + b"\n")
            conn.flush()
            quit_now()  # the connection stays open; it closes with the process
            return
        if command.startswith(SHOW_COMMAND.strip()):
            show()
        conn.disconnectFromServer()

    conn.readyRead.connect(read)
