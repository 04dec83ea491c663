"""The diagnostics zip: what support needs, and never the token or the SMTP password, even when
an older version or a hand edit left them in a log or the settings file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from app.adapters.store.jobs_repo import JobsRepo
from app.adapters.system.autostart import XdgAutostart
from app.orchestration.diagnostics import write_diagnostics
from app.orchestration.refund_path import set_smtp_password
from app.runtime import Options, Runtime

TOKEN = "tok-3f9a1c77e2b04d5e"
SMTP_PASSWORD = "smtp-Pw-91b2c3"


def every_byte(path: Path) -> list[tuple[str, bytes]]:
    """The zip's raw bytes and each member decompressed: a secret in either is a leak."""
    found = [("<raw>", path.read_bytes())]
    with zipfile.ZipFile(path) as archive:
        found += [(name, archive.read(name)) for name in archive.namelist()]
    return found


def assert_no_secret(path: Path, *secrets: str) -> None:
    for name, data in every_byte(path):
        for secret in secrets:
            assert secret.encode() not in data, f"{secret!r} found in {name}"
            assert secret.encode("utf-16-le") not in data, f"{secret!r} (UTF-16) in {name}"


def test_the_zip_has_what_support_needs_and_no_secret(tmp_path, home, demo_cloud,
                                                      memory_keyring):
    demo_cloud_token = "demo-token"
    runtime = Runtime(Options(home=str(home), cloud_url=demo_cloud.url))
    runtime.settings.smtp_host = "mail.booth.test"
    runtime.settings.smtp_username = "booth"
    runtime.settings.extra = {"backup_password": SMTP_PASSWORD, "note": f"see {TOKEN}"}
    runtime.save_settings()
    runtime.secrets.set_token(demo_cloud.url, TOKEN)
    set_smtp_password(runtime, SMTP_PASSWORD)
    # The token the monitor really uses against this cloud is the demo's; store both so the
    # refresh works and the zip is checked against what is in the keyring.
    runtime.close()
    runtime = Runtime(Options(home=str(home), cloud_url=demo_cloud.url))
    runtime.secrets.set_token(demo_cloud.url, demo_cloud_token)
    assert runtime.refresh().ok
    JobsRepo(runtime.db)  # the tray app has made the job tables by the time anyone asks
    runtime.secrets.set_token(demo_cloud.url, TOKEN)
    # What a careless older version might have left behind.
    log_dir = runtime.paths.log_dir
    (log_dir / "monitor.log.1").write_text(
        f"old line Authorization: Bearer {TOKEN}\nsmtp login with {SMTP_PASSWORD}\n")
    raw = json.loads(runtime.paths.settings_file.read_text())
    raw.update(api_token=TOKEN, smtp_password=SMTP_PASSWORD)
    runtime.paths.settings_file.write_text(json.dumps(raw))

    out = tmp_path / "support" / "diag.zip"
    saved = write_diagnostics(runtime, out, autostart=XdgAutostart(tmp_path / "autostart"),
                              qt_version="6.test")
    runtime.close()

    assert saved.path == out and out.exists()
    assert_no_secret(out, TOKEN, SMTP_PASSWORD)
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert {"about.json", "settings.json", "store.json", "status.json", "probes.json",
                "logs/monitor.log.1"} <= names
        assert not any("secrets-plaintext" in n or n.endswith(".sqlite3") for n in names)
        about = json.loads(archive.read("about.json"))
        store = json.loads(archive.read("store.json"))
        settings = json.loads(archive.read("settings.json"))
        old_log = archive.read("logs/monitor.log.1").decode()
    assert about["app"]["version"] and about["python"]["version"] and about["qt"] == "6.test"
    assert about["os"]["system"] and about["cloud_url"] == demo_cloud.url
    assert "token: keyring" in about["secrets"]
    assert about["start_at_login"]["enabled"] is False
    assert store["integrity_check"] == "ok" and store["journal_mode"] == "wal"
    assert store["schema_versions"]["cache"] >= 1 and store["rows"]["ledger_entries"] > 0
    assert "jobs" in store["per_state"]
    assert settings["smtp_host"] == "mail.booth.test" and "backup_password" not in settings
    assert "api_token" not in settings and "smtp_password" not in settings
    assert "***" in old_log and "old line" in old_log


def test_the_command_saves_a_zip_without_the_env_token_or_the_plaintext_file(tmp_path, home):
    """A headless booth: the token from BOOTH_MONITOR_TOKEN, the SMTP password in the visible
    plain-text fallback (no keyring backend works in this subprocess)."""
    config = home / "config"
    config.mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps(
        {"cloud_url": "http://127.0.0.1:9", "smtp_host": "mail.booth.test",
         "smtp_username": "booth"}))
    (config / "secrets-plaintext.json").write_text(json.dumps(
        {"smtp:booth@mail.booth.test": SMTP_PASSWORD}))
    out = tmp_path / "diag.zip"
    env = {**os.environ, "BOOTH_MONITOR_HOME": str(home), "BOOTH_MONITOR_TOKEN": TOKEN,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    result = subprocess.run([sys.executable, "-m", "app", "diagnostics", "--out", str(out),
                             "--json"], env=env, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["path"] == str(out) and "about.json" in report["files"]
    assert_no_secret(out, TOKEN, SMTP_PASSWORD)
    with zipfile.ZipFile(out) as archive:
        about = json.loads(archive.read("about.json"))
    assert "token: env" in about["secrets"] and "smtp password: plaintext-file" in \
        about["secrets"]
