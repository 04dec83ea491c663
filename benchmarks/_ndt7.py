"""The bandwidth matrix's ndt7 column: M-Lab's client from npm (@m-lab/ndt7, run under Node by
_ndt7_client.js) against a local ndt7 server (_ndt7_server.py: M-Lab's own, m-lab/ndt-server,
is Go and in none of the registries this project may use).

The figure is ndt7's own, the server's kernel count over the server's clock, as M-Lab reports
it: TCPInfo.BytesAcked / ElapsedTime for a download, TCPInfo.BytesReceived / ElapsedTime for an
upload, from the last server measurement of the 10 s test. Bytes are those same counts, seconds
the client's wall time from start to the end of the test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ROOT / "benchmarks" / ".ndt7"  # npm's install folder, kept out of git
PACKAGE = "@m-lab/ndt7@0.1.4"
CLIENT = ROOT / "benchmarks" / "_ndt7_client.js"
PORT = 4443


@dataclass(frozen=True)
class Ndt7Run:
    mbps: float
    seconds: float
    bytes: int


def node_modules() -> Path:
    return MODULES / "node_modules"


def ndt7_reason(install: bool = True) -> str | None:
    """None when the ndt7 client can run (installing it from npm if it is not there yet), else
    why the column is empty."""
    node = shutil.which("node")
    if node is None:
        return "ndt7 skipped: Node.js is not installed (M-Lab's ndt7 client runs on it)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    major = int(version.strip().lstrip("v").split(".")[0] or 0)
    if major < 20:
        return f"ndt7 skipped: Node.js {version.strip()} has no WebSocket (20 or newer needed)"
    if not (node_modules() / "@m-lab" / "ndt7").is_dir() and install:
        npm = shutil.which("npm")
        if npm is None:
            return "ndt7 skipped: npm is not installed (the client is npm's @m-lab/ndt7)"
        MODULES.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(MODULES), "--no-audit", "--no-fund",
                        "--silent", PACKAGE], capture_output=True, timeout=300)
    if not (node_modules() / "@m-lab" / "ndt7").is_dir():
        return f"ndt7 skipped: npm could not install {PACKAGE}"
    return None


class Ndt7Server:
    """The local ndt7 server, in a network namespace (`netns`) or on this host's stack."""

    def __init__(self, host: str, *, port: int = PORT, netns: str | None = None,
                 seconds: float = 10.0):
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "benchmarks._ndt7_server", host, str(port),
             str(seconds)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            self.close()
            raise RuntimeError("the ndt7 server did not start")
        self.address = f"{host}:{line[1]}"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def ndt7(address: str, *, reverse: bool, netns: str | None = None) -> Ndt7Run:
    """One ndt7 test: upload, or download with `reverse` (as with iperf3's -R)."""
    test = "download" if reverse else "upload"
    prefix = ["ip", "netns", "exec", netns] if netns else []
    done = subprocess.run([*prefix, "node", "--experimental-websocket", str(CLIENT),
                           str(node_modules()), address, test],
                          capture_output=True, text=True, timeout=60)
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"ndt7 {test} gave no report: {done.stderr[-300:]}") from None
    server = report.get("server") or {}
    tcp = server.get("TCPInfo") or {}
    count = tcp.get("BytesAcked" if reverse else "BytesReceived", 0)
    elapsed = tcp.get("ElapsedTime", 0) / 1e6
    if report.get("code") != 0 or not count or elapsed <= 0:
        raise RuntimeError(f"ndt7 {test} failed: {report.get('error') or report}")
    return Ndt7Run(count * 8 / elapsed / 1e6, float(report["seconds"]), int(count))
