"""The bandwidth matrix's truth: iperf3 (M-Lab's ndt7, the other peer, is in _ndt7.py).

iperf3 is Debian's package: installed on demand as root (apt-get), skipped with the reason
otherwise. Its truth figure is the median of the receiver's one-second intervals after the first
(omitted) second, not iperf3's own summary: that one divides everything the receiver got, the
bottleneck queue's contents included, by the sender's duration, which reads up to 2% high
behind a 200 ms queue.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass

IPERF_PORT = 5201


@dataclass(frozen=True)
class IperfRun:
    truth_mbps: float  # median of the receiver's 1 s intervals, first second left out
    summary_mbps: float  # what iperf3 itself reports (receiver total / sender duration)
    seconds: float
    bytes: int


def iperf3_reason() -> str | None:
    """None when iperf3 can be used (installing it from Debian if we may)."""
    if shutil.which("iperf3"):
        return None
    if shutil.which("apt-get"):
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        subprocess.call(["apt-get", "update", "-qq"], **quiet)
        subprocess.call(["apt-get", "install", "-y", "-qq", "iperf3"], **quiet)
    return None if shutil.which("iperf3") else "iperf3 is not installed (Debian package iperf3)"


def iperf3(client_ns: str, server_ns: str, server_ip: str, *, reverse: bool,
           seconds: int = 10) -> IperfRun:
    """One iperf3 test from the client namespace to a one-off server in the server one."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-J", "-B", server_ip,
         "-p", str(IPERF_PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        args = ["ip", "netns", "exec", client_ns, "iperf3", "-c", server_ip, "-p",
                str(IPERF_PORT), "-t", str(seconds), "-O", "1", "-J", "--get-server-output"]
        report: dict = {}
        text = ""
        for _ in range(20):  # the one-off server may need a moment to listen
            started = time.monotonic()
            done = subprocess.run([*args, *(["-R"] if reverse else [])], capture_output=True,
                                  text=True, timeout=seconds + 30)
            text = done.stdout[-500:] + done.stderr[-500:]
            try:
                report = json.loads(done.stdout)
            except ValueError:
                report = {}
            if done.returncode == 0 and "sum_received" in report.get("end", {}):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"iperf3 failed: {text}")
        wall = time.monotonic() - started
    finally:
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
    # The receiver's intervals: ours with -R, the server's otherwise.
    side = report if reverse else report.get("server_output_json", {})
    rates = [i["sum"]["bits_per_second"] / 1e6 for i in side.get("intervals", [])
             if not i["sum"].get("omitted")]
    received = report["end"]["sum_received"]
    total = int(received["bytes"]) + sum(
        int(i["sum"]["bytes"]) for i in side.get("intervals", []) if i["sum"].get("omitted"))
    truth = statistics.median(rates[1:] or rates)
    return IperfRun(truth, received["bits_per_second"] / 1e6, wall, total)
