"""What the command line shows: the one state model in `status`, the queue as an operator
follows it, the event summary, and one timestamp format in every JSON output. Real processes,
the demo cloud on loopback, real SQLite files."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from app.democloud.server import DemoCloud
from tests.cli.support import TOKEN, demo, photo, run

ENV = {"BOOTH_MONITOR_TOKEN": TOKEN}
STAMP_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


@pytest.fixture
def failing_cloud(tmp_path: Path):
    """A demo cloud on which every AI job fails after being charged (claims, retries)."""
    cloud = DemoCloud(tmp_path / "failing-cloud.sqlite3", job_failure_rate=1.0, seed=3,
                      job_seconds=0.2, refund_seconds=1.0)
    cloud.start()
    yield cloud
    cloud.stop()


def test_status_says_offline_right_after_a_failed_submit(home, tmp_path, demo_cloud):
    cloud = ["--cloud", demo_cloud.url]
    assert run(home, *cloud, "refresh", env=ENV).code == 0
    assert run(home, *cloud, "status", "--json").json()["state"] == "current"

    demo(demo_cloud.url, "outage", {"mode": "drop", "seconds": 0})
    submitted = run(home, *cloud, "submit", str(photo(tmp_path, "guest.png")), "--feature",
                    "draw_me", "--offline-wait", "0", env=ENV)
    assert submitted.code == 3 and "queued but not sent" in submitted.one_line()

    # Only the job path met the outage; status reads what it recorded, without any network.
    after = run(home, *cloud, "status", "--json")
    assert after.code == 0, after
    doc = after.json()
    assert doc["offline"] is True and doc["stale"] is True and doc["state"] == "offline"
    assert [c["condition"] for c in doc["conditions"]] == ["offline"]
    assert doc["offline_since"] is not None and doc["queue"]["open"] == 1
    text = run(home, *cloud, "status").stdout
    assert "State    OFFLINE" in text and "Offline since" in text and "just now" not in text

    demo(demo_cloud.url, "restore")
    assert run(home, *cloud, "replay", env=ENV).code == 0
    back = run(home, *cloud, "status", "--json").json()
    assert back["offline"] is False and back["queue"]["open"] == 0


def test_status_json_keeps_every_promised_field_and_adds_the_assessment(home, demo_cloud):
    run(home, "--cloud", demo_cloud.url, "refresh", env=ENV)
    doc = run(home, "--cloud", demo_cloud.url, "status", "--json").json()
    for key in ("balance_cents", "as_of", "age_seconds", "stale", "offline", "account_email",
                "cloud_url", "queue", "refunds", "state", "conditions", "demo"):
        assert key in doc, key
    assert doc["cloud_url"] == demo_cloud.url and doc["demo"] is False
    assert doc["state"] == "current" and doc["conditions"][0]["text"].startswith("Current")


def test_every_json_output_has_one_timestamp_format(home, tmp_path, failing_cloud):
    cloud = ["--cloud", failing_cloud.url]
    submitted = run(home, *cloud, "submit", str(photo(tmp_path, "guest.png")), "--feature",
                    "ai_headshot", "--json", env=ENV)
    assert submitted.code == 1, submitted  # failed after the charge: a refund claim follows
    job = submitted.json()["job"]["id"]
    queued = run(home, *cloud, "submit", str(photo(tmp_path, "later.png", 12)), "--feature",
                 "draw_me", "--no-wait", "--json", env=ENV)
    outputs = [submitted, queued]
    for args in (["refresh", "--json"], ["status", "--json"], ["preflight", "--json"],
                 ["queue", "--json"], ["queue", "--job", job, "--json"],
                 ["refunds", "--file-now", "--json"], ["refunds", "--json"],
                 ["summary", "--json"], ["replay", "--json"],
                 ["remove", queued.json()["job"]["id"], "--json"]):
        outputs.append(run(home, *cloud, *args, env=ENV))

    stamps = []
    for out in outputs:
        assert "+00:00" not in out.stdout, out
        stamps += [s for s in _strings(out.json()) if STAMP_LIKE.match(s)]
    assert len(stamps) > 20  # jobs, events, claims, the balance, the check, the summary span
    assert [s for s in stamps if not RFC3339_Z.match(s)] == []


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_queue_follows_a_photo_through_a_duplicate_and_a_retry(home, tmp_path, failing_cloud):
    cloud = ["--cloud", failing_cloud.url]
    first = photo(tmp_path, "guest_1.png")
    failed = run(home, *cloud, "submit", str(first), "--feature", "draw_me", "--json",
                 env=ENV)
    assert failed.code == 1 and "failed" in failed.one_line()
    old = failed.json()["job"]
    assert old["sends"] == 1 and old["charged_cents"] == 150

    copy = tmp_path / "copy" / "guest_1_again.png"  # the same bytes under another name
    copy.parent.mkdir()
    shutil.copy(first, copy)
    same = run(home, *cloud, "submit", str(copy), "--feature", "draw_me", "--json", env=ENV)
    assert same.code == 0 and same.json()["job"]["state"] == "duplicate", same

    retried = run(home, *cloud, "retry", old["id"], "--json", env=ENV)
    assert retried.code == 0, retried
    new = retried.json()["changed"][0]
    assert new["id"] != old["id"] and new["retry_of"] == old["id"]

    demo(failing_cloud.url, "outage", {"mode": "drop", "seconds": 0})
    assert run(home, *cloud, "replay", "--offline-wait", "0", env=ENV).code == 3

    listed = run(home, *cloud, "queue")
    assert listed.code == 0, listed
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()
            if line.startswith("j-")}
    assert old["id"] not in rows, "a run a retry replaced shows once, as its newest run"
    assert "when the cloud answers" in rows[new["id"]]
    duplicate = next(line for line in rows.values() if "guest_1_again.png" in line)
    assert "same photo as guest_1.png: not sent again" in duplicate
    header = next(line for line in listed.stdout.splitlines() if line.startswith("ID "))
    assert "TRIES" in header and "NEXT" in header

    everything = run(home, *cloud, "queue", "--all").stdout
    old_row = next(line for line in everything.splitlines() if line.startswith(old["id"]))
    assert " failed " in old_row and re.search(r" 1 {2}", old_row), "tries count sends"


def test_summary_in_text_json_and_csv(home, tmp_path, demo_cloud):
    cloud = ["--cloud", demo_cloud.url]
    for n in range(2):
        done = run(home, *cloud, "submit", str(photo(tmp_path, f"g{n}.png", 10 + n)),
                   "--feature", "background_removal", env=ENV)
        assert done.code == 0, done
    text = run(home, *cloud, "summary")
    assert text.code == 0 and "2 photos: 2 delivered, 0 failed, 0 still queued" in text.stdout
    assert "Background removal $0.50 (2 delivered)" in text.stdout

    out = tmp_path / "event.csv"
    doc = run(home, *cloud, "summary", "--json", "--since", "00:00", "--csv", str(out))
    assert doc.code == 0, doc
    assert doc.json()["photos"]["delivered"] == 2 and doc.json()["booth_charged_cents"] == 50
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert any(r["feature"] == "background_removal" and r["delivered"] == "2" for r in rows)

    later = run(home, *cloud, "summary", "--json", "--since", "2999-01-01T00:00:00Z")
    assert later.json()["photos"]["total"] == 0
    bad = run(home, *cloud, "summary", "--since", "teatime")
    assert bad.code == 2 and "is not a time" in bad.one_line()


def test_since_accepts_rfc3339_and_local_clock_times():
    from datetime import datetime, timedelta, timezone

    from app.cli.summary_commands import since_time

    now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert since_time("2026-05-01T08:30:00Z", now) == now.replace(hour=8, minute=30)
    local = now.astimezone()
    earlier = (local - timedelta(hours=2)).strftime("%H:%M")
    assert since_time(earlier, now) == (local - timedelta(hours=2)).replace(
        second=0, microsecond=0)
    ahead = (local + timedelta(hours=2)).strftime("%H:%M")  # still ahead today: last night
    assert since_time(ahead, now) < now
    dated = since_time(local.strftime("%Y-%m-%d %H:%M"), now)
    assert dated == local.replace(second=0, microsecond=0)


def test_preflight_speaks_operator_words(home, demo_cloud):
    done = run(home, "--cloud", demo_cloud.url, "preflight", env=ENV)
    assert done.code == 0, done
    assert "Verdict   ok" in done.stdout
    assert "tcp_info" not in done.stdout and "server_count" not in done.stdout


def test_exit_codes_are_listed_in_help_and_readme(home):
    from app.cli.failures import EXIT_CODES

    helptext = run(home, "--help").stdout
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    for code, _ in EXIT_CODES:
        assert re.search(rf"^\s+{code}\s", helptext, re.M), code
        assert f"| {code} |" in section, code


def test_status_says_how_many_photos_the_balance_lasts(home, tmp_path, demo_cloud):
    cloud = ["--cloud", demo_cloud.url]
    before = run(home, *cloud, "refresh", "--json", env=ENV).json()
    assert before["forecast"]["photos_left"] is None  # nothing spent yet: no mix to go by
    for n in range(3):
        done = run(home, *cloud, "submit", str(photo(tmp_path, f"guest_{n}.png", 10 + n)),
                   "--feature", "draw_me", env=ENV)
        assert done.code == 0, done
    doc = run(home, *cloud, "refresh", "--json", env=ENV).json()
    price = 150  # the demo cloud's Draw Me price, in cents
    assert doc["forecast"]["photos_left"] == doc["balance_cents"] // price
    assert doc["forecast"]["cents_per_hour"] > 0 and doc["forecast"]["runs_out_at"]
    text = run(home, *cloud, "status").stdout
    assert f"Lasts    ≈ {doc['balance_cents'] // price} photos left" in text
