"""Synthetic and recorded delivered-byte traces for the decision logic."""

from __future__ import annotations

import json
import random
from pathlib import Path

from app.core.bandwidth import Estimate, ProbePolicy, RateWatcher, Sample

RECORDED = Path(__file__).parent / "recorded"


def synthetic(rate_mbps: float, *, ramp: float = 0.2, noise: float = 0.0, seed: int = 1,
              until: float = 3.5, every: float = 0.05, stall_at: float | None = None,
              burst: int = 0) -> list[Sample]:
    """A TCP-like trace: rate ramps up linearly over `ramp` seconds (slow start), then holds;
    each step's bytes are scaled by 1 + noise x N(0, 1); `burst` bytes arrive at once at the
    first sample (a token bucket's bucket); nothing arrives after `stall_at`."""
    rng = random.Random(seed)
    per_second = rate_mbps * 1e6 / 8
    samples, delivered, t = [], float(burst), 0.0
    while t < until:
        t = round(t + every, 6)
        if stall_at is None or t <= stall_at:
            share = min(1.0, t / ramp) if ramp > 0 else 1.0
            step = per_second * every * share * max(0.0, 1 + noise * rng.gauss(0, 1))
            delivered += step
        samples.append(Sample(t, int(delivered)))
    return samples


def recorded(name: str) -> tuple[dict[str, object], list[Sample]]:
    data = json.loads((RECORDED / f"{name}.json").read_text())
    return data["meta"], [Sample(t, b) for t, b in data["samples"]]


def feed(samples: list[Sample], policy: ProbePolicy | None = None,
         rtt: float = 0.0) -> tuple[Estimate, RateWatcher]:
    """Feed samples as the adapter would, stopping when the watcher says so."""
    watcher = RateWatcher(policy or ProbePolicy(), rtt)
    for s in samples:
        if watcher.add(s.t, s.delivered):
            break
    return watcher.finish("finished"), watcher
