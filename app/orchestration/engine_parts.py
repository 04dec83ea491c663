"""What the job engine is configured with and what it tells: its settings, events and status."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from app.core.backoff import Backoff
from app.core.jobs import Job

PROBE_BACKOFF = Backoff(base=1.0, cap=8.0, floor=0.5)


@dataclass(frozen=True)
class EngineConfig:
    max_concurrent: int = 3
    lease_seconds: float = 30.0
    # Probing an unreachable cloud: quick at first so a short drop costs seconds, capped low
    # enough that a returning cloud is noticed within ~10 s. A probe is one small GET.
    probe_backoff: Backoff = PROBE_BACKOFF
    max_probe_wait: float = 60.0  # even if a 503 asks for longer
    pause_recheck_seconds: float = 120.0
    held_recheck_seconds: float = 60.0
    idle_seconds: float = 30.0  # longest sleep when nothing is due (a safety net only)


@dataclass(frozen=True)
class EngineEvent:
    kind: str  # job | online | offline | paused | resumed | throttled | slow_link | problem
    message: str = ""
    job: Job | None = None
    # On "job" events: how this step failed (Disposition.kind), None when it went through.
    failure: str | None = None


@dataclass
class EngineStatus:
    online: bool = True
    offline_reason: str = ""
    offline_since: datetime | None = None  # for display
    throttled_for: float | None = None  # seconds left
    in_flight: list[str] = field(default_factory=list)
    offline_for: float | None = None  # seconds, on the monotonic clock


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
