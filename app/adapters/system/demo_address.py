"""Where the tray app's embedded demo cloud listens, in a small file in the demo data folder.

The tray writes it when its demo cloud starts and removes it on a clean stop, so a `--demo`
command can use the same demo cloud instead of starting one of its own. After a crash the file
stays behind: readers must check that the cloud answers (an HTTP health check works on every
platform; a pid check would need a Windows branch) and otherwise ignore it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from app.adapters.system.settings_file import write_atomic
from app.core.errors import StorageError
from app.core.status import iso

log = logging.getLogger(__name__)

FILE_NAME = "demo-cloud.json"


@dataclass(frozen=True)
class DemoAddress:
    url: str
    pid: int  # for a person reading the file; never used to decide anything
    started_at: str


def write_demo_address(path: Path, url: str, started_at: datetime) -> None:
    """Written atomically: a reader never sees half a file."""
    doc = {"url": url, "pid": os.getpid(), "started_at": iso(started_at)}
    try:
        write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    except StorageError as error:  # the demo still works; commands just start their own cloud
        log.warning("could not record where the demo cloud listens: %s", error)


def read_demo_address(path: Path) -> DemoAddress | None:
    """The recorded address, or None when there is none or it is not ours to trust (garbled,
    or anything but a loopback http URL: the demo token must never be sent elsewhere)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        url, pid = str(doc["url"]).rstrip("/"), int(doc.get("pid", 0))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return DemoAddress(url, pid, str(doc.get("started_at", ""))) if is_loopback_url(url) \
        else None


def remove_demo_address(path: Path, url: str) -> None:
    """Only if it still names this cloud: a newer tray app may have replaced it meanwhile."""
    found = read_demo_address(path)
    if found is not None and found.url != url.rstrip("/"):
        return
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        log.warning("could not remove %s: %s", path, error)


def is_loopback_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError on a garbled port)
    except ValueError:
        return False
    if parts.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
