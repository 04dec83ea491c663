"""The cloud's rate limit, shared by every process on this booth PC (issue 14).

The cloud gives each token a bucket (docs/cloud-api.md section 4: 50 requests per second, bursts
of 100); two processes replaying a backlog each pacing themselves would still add up to twice
that. So the bucket that paces us lives in the shared SQLite file: every request of every
process (the tray app, `jobs drain`, `status`, the probe) takes its token from the same row in
one short write transaction, and a Retry-After from the cloud empties it for everyone until
then. Wall-clock time, since monotonic clocks are per process on some systems; a clock stepped
backwards only refills nothing for a while.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.adapters.store.db import Database

MIGRATIONS = [
    """
    CREATE TABLE rate_buckets (
        key TEXT PRIMARY KEY,
        tokens REAL NOT NULL,
        updated_at REAL NOT NULL,
        blocked_until REAL NOT NULL DEFAULT 0
    )
    """,
    # How many requests took a token: checked against the cloud's own count (tests, `jobs
    # drain` benchmarks) to show that no request of ours goes around the bucket.
    "ALTER TABLE rate_buckets ADD COLUMN taken INTEGER NOT NULL DEFAULT 0",
]

# The contract's published limit, and how much of it we use: a margin for the clocks of two
# machines, requests bunched by the network, and the probe's few requests.
PUBLISHED_RATE = 50.0
PUBLISHED_BURST = 100
RATE_SHARE = 0.9
BURST_SHARE = 0.5
MAX_WAIT_SLICE = 0.25  # a waiting request re-reads the shared row at least this often


@dataclass(frozen=True)
class Limit:
    rate: float  # requests per second
    burst: float

    @classmethod
    def from_published(cls, rate: float = PUBLISHED_RATE,
                       burst: float = PUBLISHED_BURST) -> Limit:
        # A hand-edited 0 or negative limit would stop every request for good: floor it.
        return cls(max(0.1, rate * RATE_SHARE), max(1.0, burst * BURST_SHARE))


class SharedBucket:
    """acquire() before each request; hold(seconds) when the cloud says Retry-After."""

    def __init__(self, db: Database, key: str, limit: Limit | None = None, *,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self._db = db
        self._key = key
        self.limit = limit or Limit.from_published()
        self._clock = clock
        self._sleep = sleep
        self._local = threading.Lock()  # our own threads queue here, not on the file lock
        db.migrate("pacing", MIGRATIONS)

    def acquire(self, cancelled: Callable[[], bool] = lambda: False) -> float:
        """Take one request's token, waiting as long as the shared bucket says; returns the
        seconds waited."""
        waited = 0.0
        while True:
            with self._local:
                wait = self._try_take()
            if wait <= 0 or cancelled():
                return waited
            step = min(wait, MAX_WAIT_SLICE)
            self._sleep(step)
            waited += step

    def hold(self, seconds: float) -> None:
        """The cloud asked everyone on this token to wait: no request before then."""
        until = self._clock() + max(0.0, seconds)
        with self._db.transaction() as conn:
            self._row(conn)
            conn.execute("UPDATE rate_buckets SET tokens = 0, updated_at = ?,"
                         " blocked_until = MAX(blocked_until, ?) WHERE key = ?",
                         (self._clock(), until, self._key))

    def _row(self, conn: object) -> tuple[float, float, float]:
        row = conn.execute(  # type: ignore[attr-defined]
            "SELECT tokens, updated_at, blocked_until FROM rate_buckets WHERE key = ?",
            (self._key,)).fetchone()
        if row is None:
            now = self._clock()
            conn.execute(  # type: ignore[attr-defined]
                "INSERT INTO rate_buckets(key, tokens, updated_at) VALUES (?, ?, ?)",
                (self._key, self.limit.burst, now))
            return self.limit.burst, now, 0.0
        return float(row["tokens"]), float(row["updated_at"]), float(row["blocked_until"])

    def _try_take(self) -> float:
        """0 if a token was taken, else the seconds until one may be."""
        with self._db.transaction() as conn:
            tokens, updated, blocked = self._row(conn)
            now = self._clock()
            if now < blocked:
                return blocked - now
            tokens = min(self.limit.burst, tokens + max(0.0, now - updated) * self.limit.rate)
            if tokens >= 1.0 - 1e-9:  # float refills land a hair short of a whole token
                tokens = max(0.0, tokens - 1.0)
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.limit.rate + 1e-6
            conn.execute("UPDATE rate_buckets SET tokens = ?, updated_at = ?,"
                         " taken = taken + ? WHERE key = ?",
                         (tokens, max(now, updated), int(wait == 0.0), self._key))
        return wait

    def taken(self) -> int:
        """Requests that took a token from this bucket, by every process, since it was made."""
        rows = self._db.query("SELECT taken FROM rate_buckets WHERE key = ?", (self._key,))
        return int(rows[0]["taken"]) if rows else 0
