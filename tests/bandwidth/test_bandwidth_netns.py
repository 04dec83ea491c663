"""The probe on really shaped links: client - router - server namespaces, tbf on the router.

Skipped, with the reason, where namespaces or tc or root are missing. Rates are checked as
verdicts far from the threshold (2 and 20 Mbps), never as timings: speed belongs to the benchmark.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app.adapters.bandwidth import HttpBandwidthProbe
from app.core.bandwidth import Preflight, PreflightResult, ProbeCancelled, ProbePolicy, Verdict
from tests.bandwidth.netlab import SERVER_PORT, TOKEN, NetLab
from tests.bandwidth.test_bandwidth_preflight import MemoryStore

pytestmark = pytest.mark.netns


@pytest.fixture
def cloud(lab: NetLab) -> Iterator[str]:
    """The demo cloud inside the server namespace, (re)started if a test killed it."""
    if not lab.cloud_running():
        lab.start_cloud()
    lab.link(up=True)
    yield lab.cloud_url
    lab.link(up=True)


def check(url: str, cancel: threading.Event | None = None) -> PreflightResult:
    service = Preflight(HttpBandwidthProbe(url, TOKEN), MemoryStore(),
                        lambda: datetime.now(timezone.utc), ProbePolicy(),
                        monotonic=time.monotonic)
    return service.check(0, cancel)


def established_to_cloud() -> int:
    """Our TCP connections to the cloud still open, as this thread's namespace sees them."""
    lines = Path("/proc/thread-self/net/tcp").read_text().splitlines()[1:]
    port = f"{SERVER_PORT:04X}"
    return sum(1 for line in lines
               if line.split()[2].endswith(f":{port}") and line.split()[3] == "01")


def test_two_megabits_is_slow(lab, cloud):
    lab.shape(2, 100)
    result = lab.in_client(lambda: check(cloud))
    assert result.verdict is Verdict.SLOW, result.summary()
    assert result.method == "tcp_info_acked"
    assert result.details["up"]["decided_by"] == "below"
    assert result.upload_mbps is not None and 1.0 < result.upload_mbps < 4.5
    assert result.download_mbps is None  # a slow uplink already decides: no download spent


def test_twenty_megabits_is_ok_both_ways(lab, cloud):
    lab.shape(20, 100)
    result = lab.in_client(lambda: check(cloud))
    assert result.verdict is Verdict.OK, result.summary()
    assert result.details["up"]["decided_by"] == "above"
    assert result.bytes_up <= 2_000_000 and result.bytes_down <= 2_000_000


def test_cancel_mid_probe_ends_it_and_closes_the_connection(lab, cloud):
    lab.shape(2, 100)
    cancel = threading.Event()
    thread = lab.start_in_client(lambda: check(cloud, cancel))
    threading.Timer(0.8, cancel.set).start()  # well inside a 2 Mbps upload (about 2 s)
    with pytest.raises(ProbeCancelled):
        thread.join_result(timeout=5)
    assert lab.in_client(established_to_cloud) == 0


def test_server_dying_mid_probe_ends_offline(lab, cloud):
    lab.shape(2, 100)
    thread = lab.start_in_client(lambda: check(cloud))
    threading.Timer(0.8, lab.kill_cloud).start()
    result = thread.join_result(timeout=15)
    assert isinstance(result, PreflightResult)
    assert result.verdict is Verdict.OFFLINE, result.summary()
    assert result.reason


def test_uplink_gone_mid_probe_ends_offline(lab, cloud):
    lab.shape(2, 100)
    thread = lab.start_in_client(lambda: check(cloud))
    threading.Timer(0.8, lambda: lab.link(up=False)).start()
    result = thread.join_result(timeout=15)
    assert isinstance(result, PreflightResult)
    assert result.verdict is Verdict.OFFLINE, result.summary()
    assert result.details["up"]["decided_by"] == "stalled"


def test_the_lab_says_why_it_cannot_run(monkeypatch):
    import os
    import sys

    from tests.bandwidth import netlab

    if sys.platform.startswith("linux"):
        monkeypatch.setattr(os, "geteuid", lambda: 1000)
        assert "root" in (netlab.unavailable_reason() or "")
    else:
        assert "Linux" in (netlab.unavailable_reason() or "")
