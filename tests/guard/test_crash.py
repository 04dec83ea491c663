"""kill -9 at every step of filing support requests, then a normal run: each request reaches
the cloud exactly once, and by email as one message per request (re-sent, if at all, with the
same Message-ID)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.democloud.server import DemoCloud
from tests.guard.conftest import cloud_requests, scenario
from tests.refunds.conftest import SMTP_PASSWORD, TOKEN, Booth, cloud_rows

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cloud(tmp_path: Path):
    """Support takes its time here (as a real desk does): nothing is decided during the kills,
    so what the cloud holds is exactly what the booth filed."""
    demo = DemoCloud(tmp_path / "cloud.sqlite3", refund_seconds=600.0)
    demo.start()
    yield demo
    demo.stop()


def run_driver(home: Path, url: str, spec: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOOTH_MONITOR_TOKEN": TOKEN,
           "BOOTH_MONITOR_SMTP_PASSWORD": SMTP_PASSWORD}
    return subprocess.run([sys.executable, "-m", "tests.guard.crash_driver", str(home), url,
                           spec], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def local(home: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(home / "data" / "monitor.sqlite3")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def prepared(booths, cloud, **settings) -> Booth:
    """Two traps in the account (a lost purchase, a coupon never activated), a synced booth;
    finding and filing are left to the driver."""
    scenario(cloud, "lost-purchase")
    scenario(cloud, "coupon-not-activated")
    booth = booths(cloud.url, **settings)
    booth.sync()
    booth.close()
    return booth


def kill_at_every_step(booth: Booth, url: str, specs: list[str]) -> int:
    killed = 0
    for spec in specs:
        result = run_driver(booth.home, url, spec)
        assert result.returncode in (0, -signal.SIGKILL), result.stderr
        killed += result.returncode == -signal.SIGKILL
    assert run_driver(booth.home, url, "none").returncode == 0
    assert ("pending",) not in local(booth.home, "SELECT status FROM support_requests")
    return killed


# add(1) take(2) file(3) filing_done(4) take(5) file(6) filing_done(7): requests committed;
# A sent, not recorded; A taken, not sent; A replayed and recorded; B sent, not recorded.
CLOUD_KILLS = ["after:1", "after:3", "before:3", "after:4", "after:3"]


def test_cloud_filing_survives_kill_9_at_every_step(cloud, booths):
    booth = prepared(booths, cloud)
    assert kill_at_every_step(booth, cloud.url, CLOUD_KILLS) == len(CLOUD_KILLS)
    assert sorted(k for k, _ in cloud_requests(cloud)) == ["missing_coupon_bonus",
                                                           "missing_purchase"]
    ours = sorted(r[0] for r in local(booth.home, "SELECT remote_id FROM support_requests"))
    assert ours == sorted(r[0] for r in cloud_rows(cloud, "SELECT id FROM support_requests"))


# add(1) take_unsent(2) open_message(3) | send(3)...: committed; the first letter stored as
# "sending"; the server accepts it and the run dies before recording that.
EMAIL_KILLS = ["after:1", "after:3", "after:3"]


def test_email_filing_survives_kill_9_at_every_step(cloud, booths, mail_server):
    booth = prepared(booths, cloud, **mail_server.settings(
        smtp_ca_file=str(mail_server.ca_file)))
    assert kill_at_every_step(booth, cloud.url, EMAIL_KILLS) == len(EMAIL_KILLS)
    ids = [m["Message-ID"] for m in mail_server.messages()]
    assert len(set(ids)) == 2  # one letter per request
    assert len(ids) == 3  # the first went twice, as the same message, after a kill
    assert cloud_requests(cloud) == []


def test_requests_survive_a_kill_before_anything_is_filed(cloud, booths):
    booth = prepared(booths, cloud)
    assert run_driver(booth.home, cloud.url, "after:1").returncode == -signal.SIGKILL
    assert local(booth.home, "SELECT status FROM support_requests") == [("pending",)] * 2
