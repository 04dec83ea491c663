"""`refunds` as an operator runs it: real processes on the embedded demo cloud (--demo)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from app.democloud.images import make_png
from tests.conftest import wait_until
from tests.test_cli import cli


def submit(home: Path, photo: Path, failure_rate: float) -> dict:
    result = cli(home, "--demo", "--demo-job-failure-rate", str(failure_rate), "submit",
                 str(photo), "--feature", "ai_headshot", "--json")
    assert result.returncode in (0, 1), result.stderr  # 1: the job failed, as asked
    return json.loads(result.stdout)["job"]


def refunds(home: Path, *args: str) -> dict:
    result = cli(home, "--demo", "refunds", "--json", *args)
    assert result.returncode in (0, 3), result.stderr
    return json.loads(result.stdout)


def test_failed_jobs_are_claimed_filed_and_refunded_from_the_command_line(home, tmp_path):
    jobs = []
    for n, rate in enumerate((1.0, 0.0, 1.0, 0.0)):  # two fail after the charge, two deliver
        photo = tmp_path / f"guest-{n}.png"
        photo.write_bytes(make_png(10 + n, 10))
        jobs.append(submit(home, photo, rate))
    failed = {j["id"] for j in jobs if j["state"] == "failed"}
    assert len(failed) == 2 and all(j["charged_cents"] == 100 for j in jobs)

    assert refunds(home)["claims"] == []  # listing never touches the network
    doc = refunds(home, "--file-now")
    assert {c["job_id"] for c in doc["claims"]} == failed
    for claim in doc["claims"]:
        assert claim["status"] in ("filed", "acknowledged", "refunded")
        assert claim["channel"] == "cloud" and claim["amount_cents"] == 100
        assert claim["feature"] == "ai_headshot" and claim["ledger_entry_id"].startswith("le_")
        assert claim["submitted_at"] <= claim["charged_at"] <= claim["failed_at"]
        assert claim["filed_at"] is not None
    assert doc["totals"]["claimed_cents"] == 200

    # The demo cloud decides within seconds; each run syncs and follows up.
    def all_refunded() -> dict | None:
        latest = refunds(home, "--file-now")
        return latest if latest["totals"]["by_status"]["refunded"] == 2 else None

    done = wait_until(all_refunded, timeout=40, step=0.5)
    assert done["totals"]["summary"] == "2 failed jobs, $2.00 claimed, $2.00 refunded"
    assert [c["id"] for c in done["claims"]] == [c["id"] for c in doc["claims"]]

    text = cli(home, "--demo", "refunds")
    assert text.returncode == 0 and "refunded" in text.stdout and "$1.00" in text.stdout
    out = tmp_path / "claims.csv"
    exported = cli(home, "--demo", "refunds", "export", "--csv", str(out))
    assert exported.returncode == 0 and "2 claims" in exported.stdout
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {r["job_id"] for r in rows} == failed and {r["status"] for r in rows} == {"refunded"}


def test_the_smtp_password_goes_to_the_secret_store_only(home):
    # The null keyring backend: never a developer's real keyring; the app then says out loud
    # that it falls back to a plain-text file of this user's.
    env = {**os.environ, "BOOTH_MONITOR_HOME": str(home),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    result = subprocess.run([sys.executable, "-m", "app", "refunds", "smtp-password", "--stdin"],
                            env=env, input="hunter2-smtp\n", capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "plain text" in result.stdout and "hunter2-smtp" not in result.stdout + result.stderr
    assert "hunter2-smtp" in (home / "config" / "secrets-plaintext.json").read_text()
    for path in (home / "config" / "settings.json", *(home / "logs").glob("*.log")):
        assert not path.exists() or "hunter2-smtp" not in path.read_text()
