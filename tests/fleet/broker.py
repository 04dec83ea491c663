"""A real Mosquitto for the fleet tests: started by the test on a free loopback port, stopped
and started again on the same port (with its persistence file, as a broker restarted by its
operator keeps its retained messages and sessions)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def mosquitto_missing() -> str | None:
    if not Path(MOSQUITTO).exists():
        return ("Mosquitto is not installed (/usr/sbin/mosquitto): `python3 dev.py test` "
                "installs Debian's package when run as root")
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition, timeout: float, what: str, step: float = 0.05) -> None:
    """Poll a condition until it holds; the timeout only bounds a failing test."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


class Broker:
    def __init__(self, folder: Path, *, users: dict[str, str] | None = None,
                 acl: str | None = None, tls: bool = False):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        lines = [f"listener {self.port} 127.0.0.1", "persistence true",
                 f"persistence_location {folder}/", f"log_dest file {folder / 'broker.log'}",
                 "log_type error", "log_type warning", "log_type notice",
                 "max_queued_messages 10000"]
        if hasattr(os, "getuid"):
            # Started as root, Mosquitto drops to the user "mosquitto", who cannot write this
            # folder: its log and its persistence file would silently be missing.
            import pwd

            lines.append(f"user {pwd.getpwuid(os.getuid()).pw_name}")
        self.ca_file: Path | None = None
        if tls:
            # A certificate from a test CA the booth is told to trust (Settings: CA file).
            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
            self.ca_file = folder / "ca.pem"
            ca.cert_pem.write_to_path(str(self.ca_file))
            lines += [f"certfile {folder / 'server.pem'}", f"keyfile {folder / 'server.pem'}"]
        if users:
            pw = folder / "passwd"
            pw.write_text("")
            for user, password in users.items():
                subprocess.run([PASSWD, "-b", str(pw), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            (folder / "acl").write_text(acl)
            lines.append(f"acl_file {folder / 'acl'}")
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(self._listening, 10, f"mosquitto on port {self.port}")

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"mosquitto exited: {self.proc.stderr.read().decode()}"
                                 if self.proc.stderr else "mosquitto exited")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """As an operator's restart does: SIGTERM, Mosquitto writes its database and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM; on Windows TerminateProcess (no database save)
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        """A crash or a power cut: no database written since the last autosave."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        path = self.folder / "broker.log"
        return path.read_text() if path.exists() else ""
