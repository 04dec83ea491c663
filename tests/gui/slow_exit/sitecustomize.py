"""Put on PYTHONPATH of a tray app started by a test: its teardown then goes on for a while
after it has let go of its single-instance connection, as a slow PC's does (Python and Qt
tearing down, a thread finishing a network call). `quit` must not say "has quit" until the
process has really ended."""

from __future__ import annotations

import time

from PySide6.QtNetwork import QLocalServer, QLocalSocket

import app.gui.main as tray
import app.gui.single_instance as single_instance

SLOW_EXIT_SECONDS = 2.0
servers: list[QLocalServer] = []
listen = single_instance.listen
run_once = tray._run_once


def recording_listen(name: str) -> QLocalServer:
    server = listen(name)
    servers.append(server)
    return server


def slow_run_once(*args, **kwargs):
    result = run_once(*args, **kwargs)
    for server in servers:
        for conn in server.findChildren(QLocalSocket):
            conn.abort()  # the quit request's connection closes here, not at process exit
    time.sleep(SLOW_EXIT_SECONDS)  # the rest of a slow teardown
    return result


tray.listen = recording_listen
tray._run_once = slow_run_once
