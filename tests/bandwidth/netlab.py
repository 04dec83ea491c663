"""A real, kernel-shaped network on one Linux machine: client - router - server namespaces.

    client ns (10.77.1.2) --veth-- router ns (10.77.1.1 | 10.77.2.1) --veth-- server ns (10.77.2.2)

The router shapes with tbf on its egress toward each receiver (toward the server for uploads,
toward the client for downloads): shaping on the sender's own interface would interact with TCP
small queues and flatter the sender. tbf's `latency` bounds the bottleneck queue; with no netem
in this kernel it is our stand-in for a bufferbloated venue link's RTT. Only addresses inside
these namespaces are ever used, and every name carries the creating process id and a random tag,
so parallel or aborted runs never collide (stale labs of dead processes are swept on start).

The demo cloud runs as a subprocess inside the server namespace; probes run in the client
namespace by switching one thread into it (setns), so they stay in the test's own process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

PREFIX = "bcmlab"
CLIENT_IP, ROUTER_CLIENT_IP = "10.77.1.2", "10.77.1.1"
ROUTER_SERVER_IP, SERVER_IP = "10.77.2.1", "10.77.2.2"
SERVER_PORT = 8088
TOKEN = "demo-token"
_CLONE_NEWNET = 0x40000000
T = TypeVar("T")

# Runs the demo cloud in the server namespace until killed. The rate limit is lifted: a
# progress poller asks ten times a second and the benchmark runs hundreds of probes.
_RUNNER = (
    "import sys; from pathlib import Path; from app.democloud.server import DemoCloud;"
    "DemoCloud(Path(sys.argv[1]), host=sys.argv[2], port=int(sys.argv[3]), token=sys.argv[4],"
    " rate_limit=10000.0, rate_burst=10000).serve_forever()"
)


def unavailable_reason() -> str | None:
    """Why a lab cannot be built here, or None if it probably can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces and tc need root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"the '{tool}' command (iproute2) is not installed"
    return None


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")


def _libc_setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns failed: {os.strerror(err)}")


def sweep_stale() -> None:
    """Remove labs left by processes that died before their teardown ran."""
    netns_dir = Path("/run/netns")
    if not netns_dir.is_dir():
        return
    for entry in netns_dir.iterdir():
        parts = entry.name.split("-")
        ours = len(parts) == 4 and parts[0] == PREFIX and parts[1].isdigit()
        if ours and not Path(f"/proc/{parts[1]}").exists():
            subprocess.run(["ip", "netns", "del", entry.name], capture_output=True)


class NetLab:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.tag = f"{PREFIX}-{os.getpid()}-{secrets.token_hex(3)}"
        self.client, self.router, self.server = (f"{self.tag}-{n}" for n in "crs")
        self._made: list[str] = []
        self._cloud: subprocess.Popen[bytes] | None = None
        self.cloud_url = f"http://{SERVER_IP}:{SERVER_PORT}"

    # -- build and tear down ---------------------------------------------------------------------

    def up(self) -> NetLab:
        sweep_stale()
        try:
            for ns in (self.client, self.router, self.server):
                _run("ip", "netns", "add", ns)
                self._made.append(ns)
                _run("ip", "-n", ns, "link", "set", "lo", "up")
            # veth ends are created directly inside the namespaces: no name ever exists in the
            # host's namespace, so short fixed names are safe.
            _run("ip", "link", "add", "c0", "netns", self.client, "type", "veth",
                 "peer", "name", "rc", "netns", self.router)
            _run("ip", "link", "add", "s0", "netns", self.server, "type", "veth",
                 "peer", "name", "rs", "netns", self.router)
            ends = ((self.client, "c0", CLIENT_IP), (self.router, "rc", ROUTER_CLIENT_IP),
                    (self.router, "rs", ROUTER_SERVER_IP), (self.server, "s0", SERVER_IP))
            for ns, dev, addr in ends:
                _run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
                _run("ip", "-n", ns, "link", "set", dev, "up")
            _run("ip", "-n", self.client, "route", "add", "default", "via", ROUTER_CLIENT_IP)
            _run("ip", "-n", self.server, "route", "add", "default", "via", ROUTER_SERVER_IP)
            _run("ip", "netns", "exec", self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        self.stop_cloud()
        while self._made:
            subprocess.run(["ip", "netns", "del", self._made.pop()], capture_output=True)

    def __enter__(self) -> NetLab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- shaping --------------------------------------------------------------------------------

    def shape(self, mbit: float, queue_ms: int = 100, *, up: bool = True,
              down: bool = True) -> None:
        """A token bucket of `mbit` on the router toward each receiver, with a bottleneck queue
        of at most `queue_ms` of traffic. The bucket is kept small (2 ms of traffic, at least
        two full packets) so the initial burst does not flatter short probes."""
        rate_bytes = mbit * 1e6 / 8
        burst = max(3028, int(rate_bytes * 0.002))
        for dev, wanted in (("rs", up), ("rc", down)):
            if wanted:
                _run("tc", "-n", self.router, "qdisc", "replace", "dev", dev, "root", "tbf",
                     "rate", f"{mbit}mbit", "burst", str(burst), "latency", f"{queue_ms}ms")

    def unshape(self) -> None:
        for dev in ("rs", "rc"):
            subprocess.run(["tc", "-n", self.router, "qdisc", "del", "dev", dev, "root"],
                           capture_output=True)

    # -- the cloud in the server namespace ------------------------------------------------------

    def start_cloud(self, timeout: float = 20.0) -> str:
        self.stop_cloud()
        db = self.workdir / f"{self.tag}-cloud.sqlite3"
        self._cloud = subprocess.Popen(
            ["ip", "netns", "exec", self.server, sys.executable, "-c", _RUNNER,
             str(db), SERVER_IP, str(SERVER_PORT), TOKEN],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._cloud.poll() is not None:
                err = self._cloud.stderr.read().decode() if self._cloud.stderr else ""
                raise RuntimeError(f"demo cloud exited early: {err[-2000:]}")
            if self.in_client(_can_connect):
                return self.cloud_url
            time.sleep(0.05)  # bounded polling for the subprocess to listen
        self._cloud.kill()
        err = self._cloud.communicate(timeout=5)[1].decode(errors="replace")
        raise RuntimeError(f"demo cloud did not start listening in time: {err[-2000:]}")

    def cloud_running(self) -> bool:
        return self._cloud is not None and self._cloud.poll() is None

    def link(self, up: bool) -> None:
        """Take the router's side toward the server down (a dead uplink: no reset, no answer)."""
        _run("ip", "-n", self.router, "link", "set", "rs", "up" if up else "down")

    def kill_cloud(self) -> None:
        """Kill -9: the server dies without a goodbye, like a crashed host."""
        if self._cloud is not None and self._cloud.poll() is None:
            self._cloud.kill()
            self._cloud.wait(10)

    def stop_cloud(self) -> None:
        if self._cloud is None:
            return
        if self._cloud.poll() is None:
            self._cloud.terminate()
            try:
                self._cloud.wait(5)
            except subprocess.TimeoutExpired:
                self._cloud.kill()
                self._cloud.wait(5)
        if self._cloud.stderr:
            self._cloud.stderr.close()
        self._cloud = None

    # -- running code in the client namespace ---------------------------------------------------

    @contextlib.contextmanager
    def inside(self, ns: str) -> Iterator[None]:
        """Switch the calling thread into `ns`; sockets made meanwhile stay there for good."""
        own = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
        try:
            target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                _libc_setns(target)
            finally:
                os.close(target)
            try:
                yield
            finally:
                _libc_setns(own)
        finally:
            os.close(own)

    def in_client(self, fn: Callable[[], T]) -> T:
        with self.inside(self.client):
            return fn()

    def start_in_client(self, fn: Callable[[], object]) -> ClientThread:
        thread = ClientThread(self, fn)
        thread.start()
        return thread


class ClientThread(threading.Thread):
    """Runs fn in the client namespace; join_result() returns its value or raises its error."""

    def __init__(self, lab: NetLab, fn: Callable[[], object]):
        super().__init__(name="netlab-client", daemon=True)
        self._lab, self._fn = lab, fn
        self.result: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._lab.in_client(self._fn)
        except BaseException as exc:
            self.error = exc

    def join_result(self, timeout: float) -> object:
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError("the client-side work did not finish in time")
        if self.error is not None:
            raise self.error
        return self.result


def _can_connect() -> bool:
    try:
        with socket.create_connection((SERVER_IP, SERVER_PORT), timeout=0.5):
            return True
    except OSError:
        return False
