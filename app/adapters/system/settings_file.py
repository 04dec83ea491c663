"""Operator settings in one JSON file. Never holds a secret (those go to the keyring)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from app.core.errors import StorageError

log = logging.getLogger(__name__)

# Keys that must never be written to a settings file, even if someone edits one in by hand.
_SECRET_KEYS = {"token", "api_token", "password", "smtp_password", "mqtt_password"}


@dataclass
class Settings:
    cloud_url: str = ""
    account_email: str = ""
    booth_name: str = ""
    low_balance_cents: int = 2000
    refresh_interval_seconds: int = 60
    offline_notice_seconds: int = 60  # notify when the cloud is unreachable this long
    event_ends_at: str = "23:30"  # local HH:MM: warn when credits will not last until then
    dashboard_url: str = ""
    # Plain http:// to a cloud off this PC sends the token in clear: refused unless set here.
    allow_insecure_http: bool = False
    # The cloud's published per-token rate limit (docs/cloud-api.md section 4). Every request of
    # every process on this PC is paced to a share of it (app/adapters/store/pacing_repo.py);
    # set these only for a cloud that publishes other limits.
    cloud_rate_limit: float = 50.0  # requests per second
    cloud_rate_burst: int = 100
    # AI job path (issue 4): folders ("" = a folder in the app's data folder), one feature per
    # folder or per file-name rule, how jobs are sent, and the local trigger for booth software.
    hot_folder: str = ""
    output_folder: str = ""
    quarantine_folder: str = ""
    default_feature: str = "background_removal"
    folder_features: dict[str, str] = field(default_factory=dict)  # subfolder -> feature
    feature_rules: list[list[str]] = field(default_factory=list)  # [[glob, feature], ...]
    hold_on_slow_link: bool = True  # False: warn only, send anyway
    preflight_max_age_seconds: int = 120
    preflight_threshold_mbps: float = 5.0  # the vendor asks for 5 Mbps up and down
    max_concurrent_jobs: int = 3
    job_retry_budget: int = 8
    stuck_queue_minutes: int = 15
    local_trigger_enabled: bool = False
    local_trigger_port: int = 47615
    # Refund claims (issue 5, docs/refunds.md). The SMTP password lives in the keyring only.
    refund_channel: str = "cloud"  # cloud | email | both
    support_email: str = "support@vendor.example"  # placeholder: the vendor's support address
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | tls; "none_insecure" sends in the clear
    smtp_username: str = ""
    smtp_from: str = ""  # sender address ("" = the user name, or the account email)
    smtp_ca_file: str = ""  # extra CA to trust for the mail server ("" = system CAs only)
    refund_email_delay_minutes: int = 30  # gather an event's claims into one message
    # Phone alerts (issue 13): per-kind routes that differ from the defaults
    # (app.core.alert_routing); the Apprise URLs are secrets and live in the keyring only.
    alert_routes: dict[str, Any] = field(default_factory=dict)
    # Fleet view over MQTT (issue 13, docs/fleet.md); "" host = off. The password is in the
    # keyring only. mqtt_account is the account's topic level ("" = the account email).
    mqtt_host: str = ""
    mqtt_port: int = 1883
    mqtt_tls: bool = False
    mqtt_ca_file: str = ""  # extra CA to trust for the broker ("" = system CAs only)
    mqtt_username: str = ""
    mqtt_account: str = ""
    mqtt_home_assistant: bool = False  # publish Home Assistant MQTT discovery for this booth
    extra: dict[str, Any] = field(default_factory=dict)  # keys of newer versions, kept as they are


def load_settings(path: Path) -> Settings:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        log.warning("settings file %s unreadable (%s); using defaults", path, type(exc).__name__)
        return Settings()
    if not isinstance(raw, dict):
        return Settings()
    known = {f.name for f in fields(Settings)} - {"extra"}
    for key in _SECRET_KEYS & raw.keys():
        log.warning("ignoring '%s' in %s: secrets belong in the OS keyring", key, path.name)
    values = {k: v for k, v in raw.items() if k in known}
    extra = {k: v for k, v in raw.items() if k not in known and k not in _SECRET_KEYS}
    settings = Settings(**values)
    settings.extra = extra
    return settings


def save_settings(path: Path, settings: Settings) -> None:
    data = asdict(settings)
    data.update(data.pop("extra"))
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True).encode())


def write_atomic(path: Path, content: bytes) -> None:
    """Write-then-rename, so a crash or a full disk never leaves a half-written file behind.
    os.replace is atomic on Windows and POSIX alike."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StorageError(f"Cannot save {path.name} in {path.parent} ({exc.strerror}).",
                           hint="Check free disk space and folder permissions.") from None
