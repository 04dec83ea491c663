"""Retry timing shared by the balance sync, the job queue and the refund outbox."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter (as Celery and AWS recommend).

    Full jitter spreads the retries of many booths on one venue link so they do not hammer the
    cloud in lock-step when it comes back; the floor keeps a zero draw from becoming a hot loop.
    """

    base: float = 5.0
    cap: float = 300.0
    floor: float = 1.0

    def delay(self, failures: int, rng: random.Random, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * (2 ** max(0, failures - 1)))
        drawn = max(self.floor, rng.uniform(0.0, ceiling))
        if retry_after is not None:
            # The server said when; never come back earlier, and never wait longer than the cap
            # unless the server itself asked for it.
            drawn = max(drawn, retry_after)
        return drawn
