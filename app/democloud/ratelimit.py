"""Per-token token buckets: a runaway client slows itself down, not the other booths."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter


class RateLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # token -> (tokens, last refill)
        # What each token asked and how often it was refused: a client that says it paces
        # itself is checked on the server's side (GET /demo/state "requests").
        self.seen: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def take(self, key: str) -> int | None:
        """Spend one request; None if allowed, else whole seconds until one is available."""
        with self._lock:
            self.seen[key] += 1
            if self.rate <= 0:
                return None
            now = time.monotonic()
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            self.refused[key] += 1
            return max(1, math.ceil((1.0 - tokens) / self.rate))

    def counts(self, key: str) -> dict[str, int]:
        with self._lock:
            return {"total": self.seen[key], "rate_limited": self.refused[key]}
