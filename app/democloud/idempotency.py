"""Idempotency keys: one key, one effect, however many times a booth retries.

Keys are scoped to (account, endpoint) and kept with a fingerprint of the request they first
created something for. The demo never expires them; the contract promises at least 7 days.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from app.democloud.clock import now_ts
from app.democloud.problems import ApiError, bad_request, conflict

MAX_KEY_LENGTH = 255


def require_key(raw: str | None) -> str:
    if raw is None or not raw.strip():
        raise bad_request("The Idempotency-Key header is required for this request.")
    key = raw.strip()
    if len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise bad_request(f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable ASCII characters.")
    return key


def lookup(
    conn: sqlite3.Connection, account_id: int, scope: str, key: str, fingerprint: str
) -> str | None:
    """The resource this key already created, or None; a different request under it is a 409."""
    row = conn.execute(
        "SELECT fingerprint, resource_id FROM idempotency_keys"
        " WHERE account_id = ? AND scope = ? AND key = ?",
        (account_id, scope, key),
    ).fetchone()
    if row is None:
        return None
    if row["fingerprint"] != fingerprint:
        raise conflict(
            "idempotency_conflict",
            "This Idempotency-Key was already used for a request with different parameters.",
        )
    return str(row["resource_id"])


def remember(
    conn: sqlite3.Connection,
    account_id: int,
    scope: str,
    key: str,
    fingerprint: str,
    resource_id: str,
) -> None:
    conn.execute(
        "INSERT INTO idempotency_keys (account_id, scope, key, fingerprint, resource_id,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (account_id, scope, key, fingerprint, resource_id, now_ts()),
    )


class InFlight:
    """Keys whose first request is still being received or processed.

    A retry that overtakes the original (a booth that timed out while its photo was still
    uploading) gets a retryable 409 instead of racing it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[tuple[int, str, str]] = set()

    @contextmanager
    def claim(self, account_id: int, scope: str, key: str) -> Iterator[None]:
        slot = (account_id, scope, key)
        with self._lock:
            if slot in self._keys:
                raise ApiError(
                    409,
                    "idempotency_conflict",
                    "A request with this Idempotency-Key is still in progress; retry shortly.",
                    headers={"Retry-After": "1"},
                    extra={"retryable": True},
                )
            self._keys.add(slot)
        try:
            yield
        finally:
            with self._lock:
                self._keys.discard(slot)
