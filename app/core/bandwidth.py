"""Bandwidth preflight: is the link good enough for an AI job? Decided in seconds, on little data.

The network adapter feeds delivered-byte samples (time since the first payload byte, cumulative
bytes that reached the other end) into a RateWatcher, which says when the answer is clear:

* clearly above: the whole-run average already exceeds threshold x 1.1. Slow start only lowers that
  average, so it is a safe lower bound and we may stop at once;
* clearly below: the rate after the slow-start ramp stays under threshold x 0.9 for ~1.5 s;
* otherwise the answer is read at a time cap (~3 s) or a byte cap (~2 MB), and a rate within +-10%
  of the threshold is called "marginal" rather than pretending to a precision we do not have.

The slow-start ramp is left out of the rate: the clock starts at max(0.3 s, 3 x RTT), because TCP
begins with ~14 kB in flight and needs a few round trips to fill the link. Pure logic: no sockets,
no Qt, no storage; the Preflight service reaches those through the ports at the bottom.
"""

from __future__ import annotations

import bisect
import enum
import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from app.core.errors import MonitorError

BITS_PER_BYTE = 8


class ProbeCancelled(MonitorError):
    """The probe was stopped on request (quit, a newer check, the operator). Nothing is recorded."""


class Verdict(str, enum.Enum):
    OK = "ok"
    SLOW = "slow"
    MARGINAL = "marginal"
    OFFLINE = "offline"


# Worst first: a combined verdict is the worst of the two directions.
_SEVERITY = {Verdict.OFFLINE: 3, Verdict.SLOW: 2, Verdict.MARGINAL: 1, Verdict.OK: 0}


@dataclass(frozen=True)
class ProbePolicy:
    threshold_mbps: float = 5.0
    margin: float = 0.10  # +-10% around the threshold is "marginal"
    min_ramp_seconds: float = 0.3
    ramp_rtts: float = 3.0
    # "Clearly above" needs this much run time, so one early burst (a token-bucket shaper's
    # bucket, an access point's buffer) cannot pass for a fast link.
    min_above_seconds: float = 0.25
    # Post-ramp data behind a "clearly above": little when the link is far above (twice the
    # line: the verdict cannot be wrong and the rate matters less), more when it is nearer,
    # because the first second after slow start is the roughest and the rate is reported.
    above_report_seconds: float = 0.4
    above_confirm_seconds: float = 1.0
    far_above_factor: float = 2.0
    below_sustain_seconds: float = 1.5
    fit_window_seconds: float = 1.5  # the rate is the slope over (at most) the latest 1.5 s
    # Post-ramp data needed before the "below" clock starts; shorter windows are mostly noise.
    below_min_window_seconds: float = 0.2
    time_cap_seconds: float = 2.9  # samples come every 50 ms: decide by 3 s at the latest
    byte_cap: int = 2_000_000
    # No delivered byte for this long after data started flowing: the path is gone, not slow.
    stall_seconds: float = 1.0

    def with_threshold(self, mbps: float) -> ProbePolicy:
        return replace(self, threshold_mbps=mbps)

    def ramp_seconds(self, rtt_seconds: float) -> float:
        return max(self.min_ramp_seconds, self.ramp_rtts * max(0.0, rtt_seconds))

    @property
    def above_mbps(self) -> float:
        return self.threshold_mbps * (1 + self.margin)

    @property
    def below_mbps(self) -> float:
        return self.threshold_mbps * (1 - self.margin)

    def verdict_for(self, mbps: float | None) -> Verdict:
        if mbps is None:
            return Verdict.OFFLINE
        if mbps >= self.above_mbps:
            return Verdict.OK
        if mbps < self.below_mbps:
            return Verdict.SLOW
        return Verdict.MARGINAL


def mbps(nbytes: float, seconds: float) -> float:
    return nbytes * BITS_PER_BYTE / seconds / 1e6 if seconds > 0 else 0.0


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the first payload byte
    delivered: int  # cumulative bytes that reached the other end


def upper_hull_slope(samples: list[Sample]) -> float:
    """Bytes per second along the upper convex hull of (t, delivered): the time-weighted
    median of its edges' slopes. Samples must be in time order."""
    hull: list[Sample] = []
    for s in samples:
        # Pop the last vertex while it lies on or under the chord from the one before it to s.
        while len(hull) >= 2 and (
            (hull[-1].t - hull[-2].t) * (s.delivered - hull[-2].delivered)
            - (hull[-1].delivered - hull[-2].delivered) * (s.t - hull[-2].t) >= 0
        ):
            hull.pop()
        hull.append(s)
    edges = sorted(((b.delivered - a.delivered) / (b.t - a.t), b.t - a.t)
                   for a, b in itertools.pairwise(hull) if b.t > a.t)
    if not edges:
        return 0.0
    half, seen = sum(w for _, w in edges) / 2, 0.0
    for slope, weight in edges:
        seen += weight
        if seen >= half:
            return max(0.0, slope)
    return max(0.0, edges[-1][0])


@dataclass(frozen=True)
class Estimate:
    mbps: float | None  # None: nothing usable was delivered
    decided_by: str  # above | below | time_cap | byte_cap | finished | stalled | no_data
    seconds: float  # run time at the decision
    delivered: int


class RateWatcher:
    """Accumulates samples for one direction and says when to stop. Not thread-safe: one feeder."""

    def __init__(self, policy: ProbePolicy, rtt_seconds: float = 0.0):
        self.policy = policy
        self.ramp_end = policy.ramp_seconds(rtt_seconds)
        self.samples: list[Sample] = []
        self._times: list[float] = []  # sample times, for finding the fit window
        self._anchor: Sample | None = None  # first sample at or after the ramp
        self._below_since: float | None = None
        self._last_progress_t = 0.0
        self.decision: str | None = None

    @property
    def done(self) -> bool:
        return self.decision is not None

    def add(self, t: float, delivered: int) -> bool:
        """Record a sample; True once the answer is clear (or a cap or a stall ends the run)."""
        if self.done:
            return True
        last = self.samples[-1] if self.samples else Sample(0.0, 0)
        if t < last.t:
            return False  # a late sample out of order (the progress poller) adds nothing
        delivered = max(delivered, last.delivered)  # counters never go back
        sample = Sample(t, delivered)
        self.samples.append(sample)
        self._times.append(t)
        if delivered > last.delivered:
            self._last_progress_t = t
        if self._anchor is None and t >= self.ramp_end:
            self._anchor = sample
        self.decision = self._decide(sample)
        return self.done

    def finish(self, reason: str = "finished") -> Estimate:
        """The feeder has no more samples (the sender finished or a cap hit outside the watcher)."""
        if self.decision is None:
            self.decision = reason
        return self.estimate()

    def _decide(self, s: Sample) -> str | None:
        p = self.policy
        if s.delivered and s.t - self._last_progress_t >= p.stall_seconds:
            return "stalled"
        # The whole-run average is a lower bound of the steady rate (slow start only lowers it),
        # except after an early burst: so the post-ramp rate must agree. Waiting for a few tenths
        # of post-ramp data also buys a rate worth reporting (chart, log).
        clearly_above = s.t >= p.min_above_seconds and mbps(s.delivered, s.t) > p.above_mbps
        if clearly_above and s.delivered >= p.byte_cap:
            return "above"
        if clearly_above:
            average = mbps(s.delivered, s.t)
            needed = (p.above_report_seconds if average > p.above_mbps * p.far_above_factor
                      else p.above_confirm_seconds)
            if self._post_ramp_span(s) >= needed and (self.post_ramp_mbps() or 0) > p.above_mbps:
                return "above"
        rate = self.post_ramp_mbps()
        if rate is not None and self._post_ramp_span(s) >= p.below_min_window_seconds:
            if rate < p.below_mbps:
                if self._below_since is None:
                    self._below_since = s.t
                if s.t - self._below_since >= p.below_sustain_seconds:
                    return "below"
            else:
                self._below_since = None
        if s.delivered >= p.byte_cap:
            return "byte_cap"
        if s.t >= p.time_cap_seconds:
            return "time_cap"
        return None

    def _post_ramp_span(self, s: Sample) -> float:
        return s.t - self._anchor.t if self._anchor is not None else 0.0

    def post_ramp_mbps(self) -> float | None:
        """The delivery rate after the ramp, over the latest `fit_window_seconds` at most.

        Read from the upper envelope of the samples, not from two end points or a plain fit:
        a lost packet holds the acknowledged count back until it is repaired, while the
        bottleneck keeps sending what is queued, so a hole shows as samples *below* the line
        the link really draws, followed by a catch-up faster than the link. The slope of the
        upper hull (median over time of its edges) follows the line and ignores the holes; the
        window slides because the first second after slow start has the most of them."""
        if self._anchor is None or not self.samples:
            return None
        last = self.samples[-1]
        start = max(self._anchor.t, last.t - self.policy.fit_window_seconds)
        window = self.samples[bisect.bisect_left(self._times, start):]
        span = last.t - window[0].t
        if span <= 0:
            return None
        if len(window) < 3:
            return mbps(last.delivered - window[0].delivered, span)
        return upper_hull_slope(window) * BITS_PER_BYTE / 1e6

    def _later_half_mbps(self) -> float | None:
        last = self.samples[-1]
        middle = next((s for s in self.samples if s.t >= last.t / 2), None)
        if middle is None or last.t <= middle.t:
            return None
        return mbps(last.delivered - middle.delivered, last.t - middle.t)

    def whole_run_mbps(self) -> float | None:
        if not self.samples or self.samples[-1].t <= 0:
            return None
        last = self.samples[-1]
        return mbps(last.delivered, last.t)

    def estimate(self) -> Estimate:
        last = self.samples[-1] if self.samples else Sample(0.0, 0)
        decided_by = self.decision or "open"
        if last.delivered == 0:
            return Estimate(None, "no_data", last.t, 0)
        rate = None
        if self._post_ramp_span(last) >= self.policy.below_min_window_seconds:
            rate = self.post_ramp_mbps()
        if rate is None:
            # Too little post-ramp data: only a fast link ends that soon (a cap or a clear
            # "above"). The whole-run average is a lower bound that still holds the ramp; the
            # later half of the run mostly does not, so report the better of the two.
            rate = max(self.whole_run_mbps() or 0.0, self._later_half_mbps() or 0.0)
        if decided_by == "stalled":
            rate = None
        return Estimate(rate, decided_by, last.t, last.delivered)

    @classmethod
    def replay(
        cls, policy: ProbePolicy, rtt_seconds: float, samples: Iterable[Sample]
    ) -> Estimate:
        """Run recorded samples (e.g. the server's own) through the same rules."""
        watcher = cls(policy, rtt_seconds)
        for s in samples:
            if watcher.add(s.t, s.delivered):
                break
        return watcher.finish()


@dataclass(frozen=True)
class Transfer:
    """One direction of a probe as the adapter ran it."""

    direction: str  # "up" | "down"
    estimate: Estimate
    bytes_spent: int  # payload bytes put on the link (what a metered hotspot bills)
    method: str  # how delivered bytes were counted: tcp_info_acked, server_count, received...
    wall_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the server's own count, for logs


@dataclass(frozen=True)
class PreflightResult:
    upload_mbps: float | None
    download_mbps: float | None
    verdict: Verdict
    threshold_mbps: float
    bytes_up: int
    bytes_down: int
    seconds: float
    method: str
    measured_at: datetime
    reason: str = ""  # why offline, in the operator's words
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "upload_mbps": _round(self.upload_mbps),
            "download_mbps": _round(self.download_mbps),
            "verdict": self.verdict.value,
            "threshold_mbps": self.threshold_mbps,
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "seconds": round(self.seconds, 3),
            "method": self.method,
            "measured_at": self.measured_at.isoformat(),
            "reason": self.reason,
            "details": self.details,
        }

    def summary(self) -> str:
        up = "-" if self.upload_mbps is None else f"{self.upload_mbps:.1f}"
        down = "-" if self.download_mbps is None else f"{self.download_mbps:.1f}"
        need = f"{self.threshold_mbps:g}"
        text = f"{self.verdict.value}: up {up} Mbps, down {down} Mbps (need {need})"
        return f"{text}: {self.reason}" if self.reason else text


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def direction_verdict(policy: ProbePolicy, transfer: Transfer | None) -> Verdict | None:
    return None if transfer is None else policy.verdict_for(transfer.estimate.mbps)


def combine(policy: ProbePolicy, up: Transfer, down: Transfer | None, seconds: float,
            measured_at: datetime) -> PreflightResult:
    verdicts = [v for v in (direction_verdict(policy, up), direction_verdict(policy, down)) if v]
    verdict = max(verdicts, key=lambda v: _SEVERITY[v])
    details = {t.direction: _transfer_json(policy, t) for t in (up, down) if t is not None}
    stalled = [t.direction for t in (up, down) if t and t.estimate.decided_by == "stalled"]
    reason = ""
    if stalled:
        reason = f"The cloud stopped taking data mid-check ({'/'.join(stalled)})."
    return PreflightResult(
        upload_mbps=up.estimate.mbps,
        download_mbps=down.estimate.mbps if down else None,
        verdict=verdict,
        threshold_mbps=policy.threshold_mbps,
        bytes_up=up.bytes_spent,
        bytes_down=down.bytes_spent if down else 0,
        seconds=seconds,
        method=up.method,
        measured_at=measured_at,
        reason=reason,
        details=details,
    )


def offline_result(policy: ProbePolicy, error: MonitorError, seconds: float,
                   measured_at: datetime, *, bytes_up: int = 0,
                   bytes_down: int = 0) -> PreflightResult:
    return PreflightResult(
        upload_mbps=None, download_mbps=None, verdict=Verdict.OFFLINE,
        threshold_mbps=policy.threshold_mbps, bytes_up=bytes_up, bytes_down=bytes_down,
        seconds=seconds, method="none", measured_at=measured_at, reason=str(error),
        details={"error": type(error).__name__},
    )


def _transfer_json(policy: ProbePolicy, t: Transfer) -> dict[str, Any]:
    return {
        "mbps": _round(t.estimate.mbps),
        "verdict": policy.verdict_for(t.estimate.mbps).value,
        "decided_by": t.estimate.decided_by,
        "decided_after_seconds": round(t.estimate.seconds, 3),
        "delivered": t.estimate.delivered,
        "bytes_spent": t.bytes_spent,
        "method": t.method,
        "wall_seconds": round(t.wall_seconds, 3),
        **t.extra,
    }


def fresh_enough(latest: PreflightResult | None, now: datetime, max_age_seconds: float,
                 threshold_mbps: float) -> bool:
    """A measured result can stand in for a new probe while it is young. An offline result never
    does (failing is fast, and the network may be back), nor one judged against another
    threshold."""
    if latest is None or latest.verdict is Verdict.OFFLINE or max_age_seconds <= 0:
        return False
    if latest.threshold_mbps != threshold_mbps:
        return False
    age = (now - latest.measured_at).total_seconds()
    return 0 <= age <= max_age_seconds


# -- ports and the service the job path calls -----------------------------------------------------


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


class ProbeLink(Protocol):
    """An open connection to the cloud's speed-test endpoints."""

    rtt_seconds: float

    def upload(self, watcher: RateWatcher) -> Transfer: ...

    def download(self, watcher: RateWatcher) -> Transfer: ...

    def close(self) -> None: ...


class BandwidthProbe(Protocol):
    def connect(self, cancel: CancelFlag | None = None) -> ProbeLink: ...


class ProbeStore(Protocol):
    def record_probe(self, result: PreflightResult) -> None: ...

    def latest_probe(self) -> PreflightResult | None: ...


class Preflight:
    """check(max_age) is what runs before each AI job: a young enough result is reused, otherwise
    one probe runs (one at a time: a second caller waits and then reuses the first's answer)."""

    def __init__(self, probe: BandwidthProbe, store: ProbeStore, clock: Callable[[], datetime],
                 policy: ProbePolicy | None = None, *, monotonic: Callable[[], float],
                 download_after_slow_upload: bool = False):
        self._probe = probe
        self._store = store
        self._clock = clock
        self._monotonic = monotonic
        self.policy = policy or ProbePolicy()
        self._download_after_slow_upload = download_after_slow_upload
        self._lock = threading.Lock()

    def check(self, max_age_seconds: float, cancel: CancelFlag | None = None) -> PreflightResult:
        with self._lock:
            latest = self._store.latest_probe()
            if fresh_enough(latest, self._clock(), max_age_seconds, self.policy.threshold_mbps):
                assert latest is not None
                return latest
            result = self.measure(cancel)
            self._store.record_probe(result)
            return result

    def measure(self, cancel: CancelFlag | None = None) -> PreflightResult:
        """Probe now. Expected failures come back as an offline result, cancellation raises."""
        started = self._monotonic()
        measured_at = self._clock()
        try:
            link = self._probe.connect(cancel)
        except ProbeCancelled:
            raise
        except MonitorError as error:
            return offline_result(self.policy, error, self._monotonic() - started, measured_at)
        up: Transfer | None = None
        try:
            up = link.upload(RateWatcher(self.policy, link.rtt_seconds))
            down = None
            slow_up = self.policy.verdict_for(up.estimate.mbps) in (Verdict.SLOW, Verdict.OFFLINE)
            if self._download_after_slow_upload or not slow_up:
                # A slow uplink already decides the answer; skipping the download saves the
                # guest's time and the hotspot's megabytes.
                down = link.download(RateWatcher(self.policy, link.rtt_seconds))
        except ProbeCancelled:
            raise
        except MonitorError as error:
            # The bytes already sent still count against a metered hotspot.
            spent = up.bytes_spent if up else getattr(error, "bytes_spent", 0)
            return offline_result(self.policy, error, self._monotonic() - started, measured_at,
                                  bytes_up=spent)
        finally:
            link.close()
        return combine(self.policy, up, down, self._monotonic() - started, measured_at)
