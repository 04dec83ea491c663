"""Passive readings on a really shaped link (issue 14): a photo job's own upload and result
download, through the app's cloud transport, give readings of the link's rate. Rates are
checked loosely (the benchmark has the accuracy against iperf3), never timings."""

from __future__ import annotations

import pytest

from app.core.bandwidth_passive import PassiveReading
from benchmarks._passive import photo_job
from tests.bandwidth.netlab import TOKEN, NetLab

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def lab(lab: NetLab) -> NetLab:
    """The shared lab (tests/bandwidth/conftest.py) with the demo cloud running in it."""
    lab.start_cloud()
    return lab


def test_a_photo_jobs_transfers_read_the_shaped_rate_both_ways(lab: NetLab):
    lab.shape(5, 100)  # about 4.8 Mbit/s of TCP payload
    found = lab.in_client(lambda: photo_job(lab.cloud_url, TOKEN, 1_500_000))
    up, down = found.get("up"), found.get("down")
    assert isinstance(up, PassiveReading), up
    assert isinstance(down, PassiveReading), down
    assert up.method == "tcp_info_acked" and down.method == "tcp_info_received"
    assert up.bytes > 1_400_000 and down.bytes > 1_400_000  # the whole photo, both ways
    for reading in (up, down):
        assert 3.5 < reading.mbps < 5.3, reading  # the link's rate, not the socket buffer's
