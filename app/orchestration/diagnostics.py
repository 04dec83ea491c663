"""The diagnostics zip: what a person helping an operator needs, and no secret.

    about.json     versions (app, Python, Qt, the OS), where the files are, the keyring
                   backend, where the token comes from (never its value), start at login
    settings.json  the settings, every key that looks like a secret removed
    store.json     the store's statistics (schema versions, counts per state, integrity_check)
    status.json    the cached view every surface shows
    probes.json    the recent bandwidth checks
    logs/          the log files (already scrubbed when written; scrubbed again here)

The token and the SMTP password are looked up in the keyring first, and every text that goes
into the zip has them replaced; the finished zip is then read back and scanned for them, and
not kept if one is found. Written next to its target and renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import sqlite3
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from app import APP_NAME, __version__
from app.adapters.store.stats import store_statistics
from app.adapters.system.autostart import Autostart, for_this_system
from app.adapters.system.durable import make_private
from app.adapters.system.logs import scrub
from app.core.cloud_address import redact_url
from app.core.errors import MonitorError, StorageError
from app.core.status import iso
from app.orchestration.alert_targets import load_targets
from app.orchestration.refund_path import smtp_secret_name
from app.runtime import Runtime, utc_now

SECRET_KEY = re.compile(r"(?i)(token|passw|secret|api[_-]?key|credential|auth)")
PROBE_DAYS = 7
MAX_PROBES = 50
PACKAGES = ("PySide6-Essentials", "PySide6", "shiboken6", "httpx", "keyring", "platformdirs")


@dataclass(frozen=True)
class DiagnosticsSaved:
    path: Path
    files: list[str]
    bytes: int

    def line(self) -> str:
        return f"Saved diagnostics to {self.path} ({len(self.files)} files, " \
               f"{max(1, round(self.bytes / 1024))} KB)."


def write_diagnostics(runtime: Runtime, out: Path, *, autostart: Autostart | None = None,
                      qt_version: str | None = None) -> DiagnosticsSaved:
    secrets, secret_note = _secrets(runtime)
    members: dict[str, bytes] = {}

    def add_json(name: str, doc: Any) -> None:
        members[name] = _clean(json.dumps(doc, indent=2, default=str) + "\n", secrets)

    add_json("about.json", about(runtime, autostart, qt_version, secret_note))
    add_json("settings.json", without_secrets(_settings_doc(runtime)))
    add_json("store.json", _guarded(lambda: store_statistics(runtime.db)))
    add_json("status.json", _guarded(lambda: runtime.view().to_json()))
    add_json("probes.json", _guarded(lambda: _probes(runtime)))
    for log_file in sorted(runtime.paths.log_dir.glob("*.log*")):
        with contextlib.suppress(OSError):
            members[f"logs/{log_file.name}"] = _clean(
                log_file.read_text(encoding="utf-8", errors="replace"), secrets)
    members["README.txt"] = (
        f"{APP_NAME} {__version__} diagnostics, made {iso(utc_now())}.\n"
        "Secrets (the API token, the SMTP password) are removed; see the app's README.\n"
    ).encode()
    size = _write_zip(out, members, secrets)
    return DiagnosticsSaved(out, sorted(members), size)


def about(runtime: Runtime, autostart: Autostart | None, qt_version: str | None,
          secret_note: str) -> dict[str, Any]:
    paths = runtime.paths
    entry = autostart or for_this_system()
    try:
        starts = entry.is_enabled()
    except MonitorError as error:
        starts = f"unknown: {error}"
    return {
        "app": {"name": APP_NAME, "version": __version__,
                "frozen": bool(getattr(sys, "frozen", False)), "executable": sys.executable},
        "python": {"version": platform.python_version(),
                   "implementation": platform.python_implementation()},
        "qt": qt_version,
        "packages": {name: _package_version(name) for name in PACKAGES},
        "sqlite": sqlite3.sqlite_version,
        "os": {"platform": platform.platform(), "system": platform.system(),
               "release": platform.release(), "machine": platform.machine()},
        "profile": paths.profile or "real",
        "folders": {"config": str(paths.config_dir), "data": str(paths.data_dir),
                    "cache": str(paths.cache_dir), "logs": str(paths.log_dir)},
        "cloud_url": redact_url(runtime.cloud_url) if runtime.cloud_url else None,
        "secrets": secret_note,
        "start_at_login": {"enabled": starts, "where": entry.where()},
        "made_at": iso(utc_now()),
    }


def without_secrets(doc: Any) -> Any:
    """Every key that names a secret dropped, at any depth."""
    if isinstance(doc, dict):
        return {k: without_secrets(v) for k, v in doc.items() if not SECRET_KEY.search(str(k))}
    if isinstance(doc, list):
        return [without_secrets(v) for v in doc]
    return doc


def _settings_doc(runtime: Runtime) -> dict[str, Any]:
    data = asdict(runtime.settings)
    data.update(data.pop("extra") or {})
    return data


def _secrets(runtime: Runtime) -> tuple[list[str], str]:
    """The secret values to keep out, and a note on where the token comes from."""
    if runtime.options.demo:
        return [], "demo: the demo cloud's fixed token; nothing stored"
    found, sources = [], []
    try:
        token = runtime.secrets.get_token(runtime.cloud_url) if runtime.cloud_url else None
        if token is not None:
            sources.append(f"token: {token.source}")
            if token.value:
                found.append(token.value)
        if runtime.settings.smtp_host:
            smtp = runtime.secrets.get(smtp_secret_name(runtime.settings))
            sources.append(f"smtp password: {smtp.source}")
            if smtp.value:
                found.append(smtp.value)
        # Phone alert URLs (issue 13) carry their service's token: each, and each without its
        # scheme (the part a person would paste elsewhere), is kept out.
        urls = [t.url for t in load_targets(runtime)]
        if urls:
            sources.append(f"phone alert addresses: {len(urls)}")
            found += urls + [u.split("://", 1)[-1] for u in urls if "://" in u]
    except MonitorError as error:
        sources.append(f"keyring not readable ({error}); logs were scrubbed when written")
    backend = runtime.secrets.describe()
    return found, "; ".join([backend, *sources])


def _clean(text: str, secrets: list[str]) -> bytes:
    text = scrub(text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text.encode("utf-8")


def _probes(runtime: Runtime) -> list[dict[str, Any]]:
    recent = runtime.probe_history().history(utc_now() - timedelta(days=PROBE_DAYS))
    return [p.to_json() for p in recent[-MAX_PROBES:]]


def _guarded(read: Any) -> Any:
    try:
        return read()
    except MonitorError as error:
        return {"error": str(error)}


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _write_zip(out: Path, members: dict[str, bytes], secrets: list[str]) -> int:
    out = out.expanduser()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=out.name, suffix=".tmp", dir=out.parent)
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data in members.items():
                    archive.writestr(name, data)
            leaked = _find_secrets(Path(tmp), secrets)
            if leaked:  # a bug upstream: better no zip than one with a secret in it
                raise StorageError(f"The diagnostics would contain a secret ({leaked}).",
                                   hint="Please report this; nothing was saved.")
            make_private(Path(tmp))  # logs and settings: this user only (POSIX; ACLs on Windows)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StorageError(f"Cannot save {out.name} in {out.parent} ({exc.strerror}).",
                           hint="Choose a folder you can write to, with free space.") from None
    return out.stat().st_size


def _find_secrets(path: Path, secrets: list[str]) -> str:
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            if any(s.encode() in data for s in secrets):
                return name
    return ""
