"""kill -9 at every step of filing, then a normal run: each claim reaches the cloud exactly
once, and by email in exactly one message (re-sent, if at all, with the same Message-ID)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.refunds import ClaimStatus
from tests.refunds.conftest import SMTP_PASSWORD, TOKEN, Booth, cloud_rows, refund_requests

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
ROOT = Path(__file__).resolve().parents[2]


def run_driver(home: Path, url: str, spec: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOOTH_MONITOR_TOKEN": TOKEN,
           "BOOTH_MONITOR_SMTP_PASSWORD": SMTP_PASSWORD}
    return subprocess.run([sys.executable, "-m", "tests.refunds.crash_driver", str(home), url,
                           spec], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def statuses(home: Path) -> list[str]:
    conn = sqlite3.connect(home / "data" / "monitor.sqlite3")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [r[0] for r in conn.execute("SELECT status FROM refund_claims")]
    finally:
        conn.close()


def prepared(booths, url: str, **settings) -> Booth:
    """Three failed-after-charge jobs and a synced ledger; detection is left to the driver."""
    booth = booths(url, **settings)
    booth.run_jobs(6)
    booth.sync()
    booth.close()
    return booth


def kill_at_every_step(booth: Booth, url: str, specs: list[str]) -> int:
    killed = 0
    for spec in specs:
        result = run_driver(booth.home, url, spec)
        assert result.returncode in (0, -signal.SIGKILL), result.stderr
        killed += result.returncode == -signal.SIGKILL
    # Then the booth runs normally, once.
    assert run_driver(booth.home, url, "none").returncode == 0
    assert "pending" not in statuses(booth.home)
    return killed


# Steps of a cloud run: add(1) take(2) file(3) filing_done(4) take(5) file(6) filing_done(7)...
# so: claims committed; A sent, not recorded; A taken, not sent; A re-sent (a replay) and
# recorded; B sent, not recorded; B replayed and recorded, C sent, not recorded.
CLOUD_KILLS = ["after:1", "after:3", "before:3", "after:4", "after:3", "after:6"]


def test_cloud_filing_survives_kill_9_at_every_step(cloud, booths):
    booth = prepared(booths, cloud.url)
    assert kill_at_every_step(booth, cloud.url, CLOUD_KILLS) == len(CLOUD_KILLS)
    assert len(statuses(booth.home)) == 3
    assert sorted(refund_requests(cloud).values()) == [1, 1, 1]
    # ... and the booth follows the very request the cloud holds for each charge.
    conn = sqlite3.connect(booth.home / "data" / "monitor.sqlite3")
    ours = dict(conn.execute("SELECT ledger_entry_id, remote_id FROM refund_claims"))
    conn.close()
    assert ours == dict(cloud_rows(cloud, "SELECT ledger_entry_id, id FROM refund_requests"))


# Steps of an email run: add(1) take_unsent_message(2) open_message(3) | send(3) ...
# so: claims committed; the message stored as "sending"; twice the server accepts it and the
# run dies before recording that.
EMAIL_KILLS = ["after:1", "after:3", "after:3", "after:3"]


def test_email_filing_survives_kill_9_at_every_step(cloud, booths, mail_server):
    booth = prepared(booths, cloud.url, **mail_server.settings(
        smtp_ca_file=str(mail_server.ca_file)))
    assert kill_at_every_step(booth, cloud.url, EMAIL_KILLS) == len(EMAIL_KILLS)
    assert len(statuses(booth.home)) == 3
    ids = {m["Message-ID"] for m in mail_server.messages()}
    assert len(ids) == 1  # every copy is the same message; support sees one request
    assert len(mail_server.received) == 3  # twice a run died after the server accepted it
    body = mail_server.messages()[0].get_body(("plain",)).get_content()
    assert body.count("usage history entry le_") == 3
    assert refund_requests(cloud) == {}


def test_claims_survive_a_kill_before_anything_is_filed(cloud, booths):
    booth = prepared(booths, cloud.url)
    assert run_driver(booth.home, cloud.url, "after:1").returncode == -signal.SIGKILL
    assert statuses(booth.home) == [ClaimStatus.PENDING.value] * 3  # committed, not lost
