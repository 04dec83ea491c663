"""The bandwidth probe takes its turn under the shared rate limit like every other request to
the cloud (issue 14), and a 429 it gets holds everyone; counted on the demo cloud's side."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from app.adapters.bandwidth import HttpBandwidthProbe
from app.adapters.cloud.transport import shared_bucket
from app.adapters.store import Database
from app.adapters.store.pacing_repo import Limit, SharedBucket
from app.core.bandwidth import Preflight, ProbePolicy, Verdict
from app.democloud.server import DemoCloud
from tests.bandwidth.test_bandwidth_preflight import MemoryStore
from tests.conftest import wait_until

TOKEN = "demo-token"


def server_counts(url: str) -> dict[str, int]:
    state = httpx.get(f"{url}/demo/state", headers={"Authorization": f"Bearer {TOKEN}"})
    return state.json()["requests"]


def check(probe: HttpBandwidthProbe) -> Verdict:
    service = Preflight(probe, MemoryStore(), lambda: datetime.now(timezone.utc),
                        ProbePolicy(), monotonic=time.monotonic)
    return service.check(0).verdict


@pytest.mark.parametrize("method", ["auto", "server_count"])
def test_every_request_of_the_probe_takes_a_token(demo_cloud, tmp_path: Path, method: str):
    # "server_count" polls the server's count on a second connection every 0.1 s: the probe's
    # busiest pattern, and each poll is a request the cloud's bucket counts.
    asked: list[tuple[str, str | None]] = []
    bucket = shared_bucket(Database(tmp_path / "store.sqlite3"), demo_cloud.url, TOKEN)

    def pacer_for(url: str, token: str | None) -> SharedBucket:
        asked.append((url, token))
        return bucket

    probe = HttpBandwidthProbe(demo_cloud.url, TOKEN, method=method, pacer_for=pacer_for)
    assert check(probe) is Verdict.OK
    assert asked and set(asked) == {(demo_cloud.url, TOKEN)}  # this cloud's, this token's
    wait_until(lambda: server_counts(demo_cloud.url)["total"] == bucket.taken(), timeout=5)
    assert bucket.taken() >= 3  # warm-up, upload, download at least


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_429_to_the_probe_holds_every_request_for_retry_after(tmp_path: Path):
    # The cloud allows 1 request; the client's bucket believes in many: the probe's second
    # request gets 429 with Retry-After, which must empty the bucket every process shares.
    t = FakeTime()
    store = tmp_path / "store.sqlite3"
    with DemoCloud(tmp_path / "cloud.sqlite3", rate_limit=0.2, rate_burst=1) as cloud:
        bucket = SharedBucket(Database(store), "k", Limit(rate=1000, burst=1000),
                              clock=t.clock, sleep=t.sleep)
        probe = HttpBandwidthProbe(cloud.url, TOKEN, pacer_for=lambda _u, _t: bucket)
        assert check(probe) is Verdict.OFFLINE
        assert server_counts(cloud.url)["rate_limited"] >= 1
    other_process = SharedBucket(Database(store), "k", Limit(rate=1000, burst=1000),
                                 clock=t.clock, sleep=t.sleep)
    assert other_process.acquire() >= 1.0  # Retry-After is whole seconds, at least 1


def test_a_long_hold_makes_the_check_offline_instead_of_hanging(demo_cloud, tmp_path: Path,
                                                                 monkeypatch):
    # Another process was told "Retry-After: 60" (an outage): the probe sends nothing before
    # then, and rather than sit out the minute it says the link could not be checked.
    from app.adapters.bandwidth.connection import ProbeConnection

    monkeypatch.setattr(ProbeConnection, "max_pacing_wait", 0.2)
    bucket = shared_bucket(Database(tmp_path / "store.sqlite3"), demo_cloud.url, TOKEN)
    bucket.hold(60)
    probe = HttpBandwidthProbe(demo_cloud.url, TOKEN, pacer_for=lambda _u, _t: bucket)
    service = Preflight(probe, MemoryStore(), lambda: datetime.now(timezone.utc),
                        ProbePolicy(), monotonic=time.monotonic)
    result = service.check(0)
    assert result.verdict is Verdict.OFFLINE and "pause in requests" in result.reason
    assert server_counts(demo_cloud.url)["total"] == 0  # not one request went out
