"""The alert URLs are secrets: in the keyring (or the visible fallback), never in settings.json,
and the diagnostics zip keeps them out even when an old log or a hand edit holds one."""

from __future__ import annotations

import json
import zipfile

from app.adapters.system.autostart import XdgAutostart
from app.orchestration.alert_targets import load_targets, save_targets
from app.orchestration.diagnostics import write_diagnostics
from tests.support.alert_receiver import SECRET_TOPIC


def test_urls_live_in_the_keyring_and_keep_their_ids(runtime, receiver, memory_keyring):
    other = "ntfy://other-topic-55aa"
    assert save_targets(runtime, [receiver.url, other]) == "keyring"
    first = load_targets(runtime)
    assert [t.label for t in first] == ["JSON address 1", "ntfy address 2"]
    save_targets(runtime, [other])  # one removed: the one kept keeps its id
    (kept,) = load_targets(runtime)
    assert kept.id == first[1].id
    runtime.save_settings()
    text = runtime.paths.settings_file.read_text()
    assert "other-topic" not in text and SECRET_TOPIC not in text
    assert runtime.secrets.describe().startswith("Stored in the OS keyring")


def test_the_diagnostics_zip_holds_no_alert_url(tmp_path, runtime, receiver, memory_keyring):
    save_targets(runtime, [receiver.url])
    (runtime.paths.log_dir / "monitor.log.1").write_text(f"pasted by hand: {receiver.url}\n")
    raw = json.loads(runtime.paths.settings_file.read_text())
    raw["note"] = f"my alerts go to {receiver.url.split('://')[1]}"
    runtime.paths.settings_file.write_text(json.dumps(raw))
    out = tmp_path / "diag.zip"
    write_diagnostics(runtime, out, autostart=XdgAutostart(tmp_path / "autostart"),
                      qt_version="6.test")
    blobs = [out.read_bytes()]
    with zipfile.ZipFile(out) as archive:
        blobs += [archive.read(n) for n in archive.namelist()]
        about = json.loads(archive.read("about.json"))
    assert not any(SECRET_TOPIC.encode() in b for b in blobs)
    assert "phone alert addresses: 1" in about["secrets"]


def test_apprise_is_loaded_only_to_send():
    """Importing Apprise and its plugins costs about 40 MB: a booth without phone alerts, and
    Settings naming the stored URLs, never pay it."""
    import subprocess
    import sys
    from pathlib import Path

    script = ("import sys\nimport app.gui.main, app.cli.main\n"
              "from app.adapters.notify.apprise_sender import service_label\n"
              "assert service_label('ntfy://t', 1) == 'ntfy address 1'\n"
              "print('apprise' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.stdout.strip() == "False", done.stderr
