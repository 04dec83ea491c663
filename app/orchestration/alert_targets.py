"""The phone alert URLs: secrets, kept like the API token (the OS keyring, or the visible
plain-text fallback), never in settings.json, logs or the store.

One keyring entry holds them all, each with a random id that the outbox uses to remember which
URL already has an alert (no URL, nor a hash of one, is stored there). Each URL is registered
with the log's scrubber as soon as it is read or stored.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.adapters.notify.apprise_sender import service_label
from app.adapters.system.logs import register_secret

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger(__name__)

SECRET_NAME = "alert-urls"


@dataclass(frozen=True)
class Target:
    id: str
    url: str
    label: str  # "ntfy address 1": what messages may say


def split_urls(text: str) -> list[str]:
    """Apprise's own convention: several URLs separated by spaces, commas or new lines."""
    return [u for u in text.replace(",", " ").split() if u]


def load_targets(runtime: Runtime) -> list[Target]:
    """The stored URLs in order (raises SecretStoreError when the keyring is locked)."""
    raw = runtime.secrets.get(SECRET_NAME).value
    try:
        items = json.loads(raw) if raw else []
    except ValueError:
        items = None
    if not isinstance(items, list):
        log.warning("the stored alert addresses are unreadable; enter them again in Settings")
        return []
    targets = []
    for n, item in enumerate(i for i in items if isinstance(i, dict)):
        url, tid = str(item.get("url", "")), str(item.get("id", ""))
        if url and tid:
            register_secret(url)
            targets.append(Target(tid, url, service_label(url, n + 1)))
    return targets


def save_targets(runtime: Runtime, urls: Sequence[str]) -> str:
    """Store the URLs (replacing the list); a URL kept from before keeps its id, so alerts it
    already has are not sent to it again. Returns where they went (keyring or the fallback)."""
    for url in urls:
        register_secret(url)
    known = {t.url: t.id for t in load_targets(runtime)}
    items = [{"id": known.get(u) or secrets.token_hex(6), "url": u} for u in dict.fromkeys(urls)]
    return runtime.secrets.set(SECRET_NAME, json.dumps(items))
