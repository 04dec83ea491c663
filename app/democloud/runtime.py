"""Everything a request handler or the worker needs, built once per start of a DemoCloud."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from app.democloud.db import Database
from app.democloud.disruptions import Disruptions
from app.democloud.idempotency import InFlight
from app.democloud.ratelimit import RateLimiter
from app.democloud.speedtest import ProbeRegistry


@dataclass(frozen=True)
class Options:
    token: str = "demo-token"
    # More tokens, each with its own account (token -> email): lets tests prove isolation.
    extra_tokens: Mapping[str, str] = field(default_factory=dict)
    job_failure_rate: float = 0.0
    seed: int | None = None
    job_seconds: float = 1.0
    refund_seconds: float = 5.0
    rate_limit: float = 50.0
    rate_burst: int = 100
    # Render capacity per server; None means unlimited. Extra jobs wait in "queued".
    max_running_jobs: int | None = None


@dataclass
class Runtime:
    db: Database
    options: Options
    accounts_by_token: dict[str, int]
    job_rng: random.Random
    wake_worker: Callable[[], None]
    probes: ProbeRegistry = field(default_factory=ProbeRegistry)
    disruptions: Disruptions = field(default_factory=Disruptions)
    in_flight: InFlight = field(default_factory=InFlight)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(50.0, 100))
