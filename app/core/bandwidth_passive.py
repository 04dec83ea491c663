"""Bandwidth for free: readings taken from the photos' own uploads and the results' downloads.

Every AI job already moves a multi-megabyte photo up and a result down over the link the
preflight would probe. The network adapter records the same delivered-byte samples the probe
records (the kernel's acknowledged or received count), and this module turns them into a
reading with the probe's rules, or says why the transfer cannot stand for the link:

* too short: slow start is left out (max(0.3 s, 3 x RTT)) and what is left must hold at least
  `min_span_seconds` and `min_bytes` of post-ramp data; a 200 kB thumbnail over a fast link is
  over before TCP has found the link's rate, and its average says more about slow start;
* app-limited: the sender ran out of data for a while (the server still making the result,
  our process too busy to write), so the link idled and the average reads low. The adapter
  marks those samples; a transfer idle for more than `max_idle_share` of its post-ramp time is
  not used.

A reading is stored beside the probe's results and answers "is the link fast enough?" for its
direction as long as it is younger than the reuse window, exactly like a probe result.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from app.core.bandwidth_rate import ProbePolicy, RateWatcher, Sample

DIRECTIONS = ("up", "down")


@dataclass(frozen=True)
class PassivePolicy:
    min_span_seconds: float = 0.5
    min_bytes: int = 256 * 1024
    max_idle_share: float = 0.2


@dataclass(frozen=True)
class PassiveReading:
    direction: str  # "up" | "down"
    mbps: float
    measured_at: datetime
    seconds: float  # post-ramp span the rate was read over
    bytes: int  # payload bytes of the transfer
    method: str  # tcp_info_acked | tcp_info_received
    source: str = ""  # what moved: "job upload", "result download"


@dataclass(frozen=True)
class Unused:
    direction: str
    why: str  # too_short | app_limited | no_data


# Nothing stops a passive run early: it is the photo's transfer, not ours to end.
_NEVER_STOP = ProbePolicy(threshold_mbps=1e12, below_sustain_seconds=1e12,
                          confident_min_seconds=1e12, time_cap_seconds=1e12, byte_cap=1 << 62,
                          stall_seconds=1e12)


def read_transfer(direction: str, samples: list[Sample], idle: list[bool], *,
                  rtt_seconds: float, measured_at: datetime, method: str, source: str = "",
                  policy: PassivePolicy | None = None) -> PassiveReading | Unused:
    """`samples` as (t since the first payload byte, delivered bytes); `idle[i]` says the
    sender had nothing to send just before sample i (app-limited)."""
    policy = policy or PassivePolicy()
    if not samples or samples[-1].delivered <= 0:
        return Unused(direction, "no_data")
    watcher = RateWatcher(_NEVER_STOP, rtt_seconds)
    for s in samples:
        watcher.add(s.t, s.delivered)
    estimate = watcher.finish("finished")
    ramp_end = watcher.ramp_end
    post = [(s, i) for s, i in zip(samples, idle, strict=True) if s.t >= ramp_end]
    span = post[-1][0].t - post[0][0].t if len(post) >= 2 else 0.0
    post_bytes = post[-1][0].delivered - post[0][0].delivered if len(post) >= 2 else 0
    if span < policy.min_span_seconds or post_bytes < policy.min_bytes or estimate.mbps is None:
        return Unused(direction, "too_short")
    idle_time = sum(b[0].t - a[0].t for a, b in itertools.pairwise(post) if b[1])
    if idle_time > policy.max_idle_share * span:
        return Unused(direction, "app_limited")
    return PassiveReading(direction, estimate.mbps, measured_at, round(span, 3),
                          samples[-1].delivered, method, source)
