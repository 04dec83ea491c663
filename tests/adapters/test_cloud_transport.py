"""The cloud transport: one shared rate bucket across processes (real SQLite), Retry-After
passed on to everyone, and passive readings only from transfers long enough to count."""

from __future__ import annotations

import httpx

from app.adapters.cloud.client import HttpCloud
from app.adapters.cloud.metering import MeteringBackend
from app.adapters.cloud.transport import CloudTransport, bucket_key, cloud_transport
from app.adapters.store import Database
from app.adapters.store.pacing_repo import Limit, SharedBucket
from app.adapters.store.probes_repo import ProbesRepo


class FakeTime:
    """A clock that moves only when someone sleeps: waits are counted, not spent."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_two_processes_share_one_bucket(tmp_path):
    # Two connections to one file, as two processes have: together they get the rate, not 2x.
    t = FakeTime()
    path = tmp_path / "store.sqlite3"
    a, b = (SharedBucket(Database(path), "k", Limit(rate=10, burst=5), clock=t.clock,
                         sleep=t.sleep) for _ in range(2))
    start = t.now
    for i in range(45):
        (a if i % 2 else b).acquire()
    # 5 from the burst, then 40 at 10 per second.
    assert 3.9 <= t.now - start <= 4.3


def test_retry_after_holds_every_process(tmp_path):
    t = FakeTime()
    path = tmp_path / "store.sqlite3"
    a, b = (SharedBucket(Database(path), "k", Limit(rate=100, burst=50), clock=t.clock,
                         sleep=t.sleep) for _ in range(2))
    a.hold(3.0)
    start = t.now
    assert b.acquire() >= 3.0
    assert t.now - start >= 3.0


def test_the_published_limit_is_used_with_a_margin():
    limit = Limit.from_published()
    assert limit.rate < 50 and limit.burst < 100


def test_every_request_is_paced_and_a_429_holds_the_bucket(tmp_path):
    from app.democloud.server import DemoCloud

    cloud = DemoCloud(tmp_path / "cloud.sqlite3", rate_limit=2.0, rate_burst=2)
    cloud.start()
    try:
        t = FakeTime()
        bucket = SharedBucket(Database(tmp_path / "s.sqlite3"), "k", Limit(rate=1000, burst=1000),
                              clock=t.clock, sleep=t.sleep)
        http = HttpCloud(cloud.url, "demo-token", transport=CloudTransport(bucket))
        statuses = []
        for _ in range(4):
            try:
                http.get_balance()
                statuses.append(200)
            except Exception:
                statuses.append(429)
        assert 429 in statuses
        waited = bucket.acquire()  # the cloud's Retry-After now holds everyone
        assert waited >= 1.0
        http.close()
    finally:
        cloud.stop()


def test_the_app_transport_meters_job_transfers_and_keeps_fast_ones_out(tmp_path, demo_cloud):
    store = tmp_path / "store.sqlite3"
    transport = cloud_transport(store, demo_cloud.url, "demo-token", lambda: __import__(
        "datetime").datetime.now(__import__("datetime").timezone.utc))
    assert isinstance(transport._inner._pool._network_backend, MeteringBackend)
    http = HttpCloud(demo_cloud.url, "demo-token", transport=transport)
    from app.adapters.cloud.jobs import CloudJobs
    from app.democloud.images import make_png

    job = CloudJobs(lambda: http).submit("background_removal", make_png(64, 64, (1, 2, 3)),
                                         "image/png", "bcm-test-1")
    assert job.id
    # A small photo over loopback is over in milliseconds: too short to stand for the link.
    assert ProbesRepo(Database(store)).latest_passive("up") is None
    http.close()


def test_bucket_keys_do_not_carry_the_token():
    key = bucket_key("https://cloud.example", "secret-token")
    assert "secret" not in key and key != bucket_key("https://cloud.example", "other")


def test_requests_pass_through_without_pacing_or_metering():
    transport = CloudTransport()
    with httpx.Client(transport=transport) as client:
        request = client.build_request("GET", "http://127.0.0.1:9/")
        assert request.method == "GET"
