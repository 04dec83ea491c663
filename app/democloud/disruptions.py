"""Outages and revoked tokens: state the request handler reads and the scenarios set.

Its own module because both sides need it: the server's runtime holds one, the scenarios
(which also need the job and ledger modules) change it. Keeping it apart keeps the import graph
free of circles.
"""

from __future__ import annotations

import threading
import time

OUTAGE_MODES = ("503", "drop", "captive_portal")
INDEFINITE_RETRY_AFTER = 30


class Disruptions:
    """In-memory only: a restarted demo cloud comes back healthy, as a real one would."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mode: str | None = None
        self._until: float | None = None
        self._revoked: set[str] = set()
        # A vendor whose ledger is served from a replica: the balance moves at once, the
        # ledger shows nothing recorded after `_ledger_upto` until the lag ends.
        self._ledger_upto: int | None = None
        self._ledger_until: float | None = None

    def start_outage(self, mode: str, seconds: float) -> None:
        with self._lock:
            self._mode = mode
            self._until = time.monotonic() + seconds if seconds > 0 else None

    def outage(self) -> tuple[str, int] | None:
        """(mode, Retry-After seconds) while an outage lasts."""
        with self._lock:
            if self._mode is None:
                return None
            if self._until is None:
                return self._mode, INDEFINITE_RETRY_AFTER
            remaining = self._until - time.monotonic()
            if remaining <= 0:
                self._mode = self._until = None
                return None
            return self._mode, max(1, int(remaining + 0.999))

    def lag_ledger(self, upto_seq: int, seconds: float) -> None:
        with self._lock:
            self._ledger_upto = upto_seq
            self._ledger_until = time.monotonic() + seconds

    def ledger_upto(self) -> int | None:
        """The newest ledger seq the ledger may show while a lag lasts, else None."""
        with self._lock:
            if self._ledger_until is not None and time.monotonic() >= self._ledger_until:
                self._ledger_upto = self._ledger_until = None
            return self._ledger_upto

    def revoke(self, token: str) -> None:
        with self._lock:
            self._revoked.add(token)

    def is_revoked(self, token: str) -> bool:
        with self._lock:
            return token in self._revoked

    def restore(self) -> None:
        with self._lock:
            self._mode = self._until = None
            self._ledger_upto = self._ledger_until = None
            self._revoked.clear()
