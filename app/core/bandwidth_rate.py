"""How fast is this direction, and is the answer clear yet? The rules of the bandwidth preflight.

The network adapter feeds delivered-byte samples (seconds since the first payload byte, cumulative
bytes that reached the other end) into a RateWatcher, which says when the answer is clear:

* clearly above: the whole-run average exceeds threshold x 1.1 (slow start only lowers that
  average, so it is a lower bound) and the post-ramp rate agrees (an early burst does not);
* clearly below: the post-ramp rate stays under threshold x 0.9 for ~1.5 s;
* a stall: nothing delivered for 1 s once data flowed; the path is gone, not slow;
* clearly marginal (or clearly below) sooner: a sequential test. Once there is enough post-ramp
  data, the rate over the fit window and over each of its halves must agree; their spread (at
  least 2%) is the confidence bound, and when the whole bound lies inside one band the answer is
  clear. A link still ramping or full of loss holes disagrees with itself and keeps running;
* otherwise the answer is read at a time cap or a byte cap (~2 MB), and a rate within +-10% of
  the threshold is "marginal" rather than a precision we do not have. A whole check has one time
  budget (~2.9 s for both directions): the upload stops at its share (a "split") unless it is
  heading for "below", which ends the check, and the download gets what is left.

The slow-start ramp is left out: the rate is measured from max(0.3 s, 3 x RTT), because TCP begins
with ~14 kB in flight and needs a few round trips (and, on a deep queue, a few losses) to settle.
"""

from __future__ import annotations

import bisect
import enum
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace

BITS_PER_BYTE = 8


class Verdict(str, enum.Enum):
    OK = "ok"
    SLOW = "slow"
    MARGINAL = "marginal"
    OFFLINE = "offline"


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
    # Post-ramp data needed before the "below" clock starts; shorter windows are mostly noise.
    below_min_window_seconds: float = 0.2
    time_cap_seconds: float = 2.9  # samples come every 50 ms: decide by 3 s at the latest
    # The sequential test: post-ramp data needed before a bound is trusted, and its floor.
    confident_min_seconds: float = 0.8
    confident_floor: float = 0.02
    # One budget for the whole check (both directions, from its start): any verdict by ~3 s.
    check_seconds: float = 2.9
    min_direction_seconds: float = 1.0  # the download's share never drops below this
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


def upper_hull(samples: list[Sample]) -> list[Sample]:
    """The upper convex hull of (t, delivered), samples in time order."""
    hull: list[Sample] = []
    for s in samples:
        # Pop the last vertex while it lies on or under the chord from the one before it to s.
        while len(hull) >= 2 and (
            (hull[-1].t - hull[-2].t) * (s.delivered - hull[-2].delivered)
            - (hull[-1].delivered - hull[-2].delivered) * (s.t - hull[-2].t) >= 0
        ):
            hull.pop()
        hull.append(s)
    return hull


def upper_hull_slope(samples: list[Sample]) -> float:
    """Bytes per second along the upper convex hull of (t, delivered): the time-weighted
    median of its edges' slopes. Samples must be in time order."""
    hull = upper_hull(samples)
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

    def __init__(self, policy: ProbePolicy, rtt_seconds: float = 0.0, *,
                 time_cap: float | None = None, split_at: float | None = None):
        """`time_cap` overrides the policy's for this run (the download's share of the check's
        budget); at `split_at` the run stops unless its rate is under the band (a slow upload
        ends the check, so it may use the whole cap to read the rate well)."""
        self.policy = policy
        self.ramp_end = policy.ramp_seconds(rtt_seconds)
        self.time_cap = policy.time_cap_seconds if time_cap is None else time_cap
        self.split_at = split_at
        self.samples: list[Sample] = []
        self._times: list[float] = []  # sample times, for finding the fit window
        self._anchor: Sample | None = None  # first sample at or after the ramp
        self._below_since: float | None = None
        self._last_progress_t = 0.0
        self.decision: str | None = None

    @property
    def done(self) -> bool:
        return self.decision is not None

    def started_late(self, seconds: float) -> None:
        """The run's clock starts at its first byte, but the check's budget was already running
        while the request went out and the answer came back (behind a deep queue still full of
        the upload, a few hundred ms): take that off the cap, never below the policy's minimum
        share for a direction, so the whole check still ends within its budget."""
        floor = min(self.time_cap, self.policy.min_direction_seconds)
        self.time_cap = max(floor, self.time_cap - max(0.0, seconds))

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
        confident = self.confident_verdict()
        if confident is not None:
            return confident
        if s.delivered >= p.byte_cap:
            return "byte_cap"
        if s.t >= self.time_cap:
            return "time_cap"
        if self.split_at is not None and s.t >= self.split_at and (
                rate is None or rate >= p.below_mbps):
            return "split"
        return None

    def bound(self) -> tuple[float, float] | None:
        """(low, high) Mbps: the post-ramp rate and the rates of its two halves, widened by the
        floor; None while there is too little post-ramp data."""
        if self._anchor is None or not self.samples:
            return None
        last = self.samples[-1]
        if last.t - self._anchor.t < self.policy.confident_min_seconds:
            return None
        window = self._post_ramp()
        middle = bisect.bisect_left(self._times, self._anchor.t + (last.t - self._anchor.t) / 2)
        halves = (self.samples[bisect.bisect_left(self._times, self._anchor.t):middle + 1],
                  self.samples[middle:])
        if min(len(h) for h in halves) < 3:
            return None
        rates = [upper_hull_slope(w) * BITS_PER_BYTE / 1e6 for w in (window, *halves)]
        floor = rates[0] * self.policy.confident_floor
        return min(rates) - floor, max(rates) + floor

    def confident_verdict(self) -> str | None:
        """'marginal' once the whole confidence bound lies inside that band. Not used for "below":
        a slow upload ends the check, so its rate may take the time it needs to be read well."""
        bound = self.bound()
        if bound is None:
            return None
        low, high = bound
        p = self.policy
        if low >= p.below_mbps and high < p.above_mbps:
            return "marginal"
        return None

    def _post_ramp_span(self, s: Sample) -> float:
        return s.t - self._anchor.t if self._anchor is not None else 0.0

    def _post_ramp(self) -> list[Sample]:
        assert self._anchor is not None
        return self.samples[bisect.bisect_left(self._times, self._anchor.t):]

    def post_ramp_mbps(self) -> float | None:
        """The delivery rate after the ramp, over all post-ramp samples.

        Read from the upper envelope of the samples, not from two end points or a plain fit:
        a lost packet holds the acknowledged count back until it is repaired, while the
        bottleneck keeps sending what is queued, so a hole shows as samples *below* the line
        the link really draws, followed by a catch-up faster than the link. The slope of the
        upper hull (median over time of its edges) follows the line and ignores the holes. No
        sliding window: behind a deep queue the holes last a few tenths of a second, and a
        window of about a second that starts or ends in one reads 10% off or more."""
        if self._anchor is None or not self.samples:
            return None
        window = self._post_ramp()
        span = window[-1].t - window[0].t
        if span <= 0:
            return None
        if len(window) < 3:
            return mbps(window[-1].delivered - window[0].delivered, span)
        return upper_hull_slope(window) * BITS_PER_BYTE / 1e6

    def _later_half_mbps(self) -> float | None:
        """From the middle of the run to its end, starting on the upper hull: a sample taken in
        a loss hole lies under it, and starting there counted the catch-up after the hole as
        link rate (a 40 Mbit/s download behind a 20 ms queue read +25% to +55%)."""
        last = self.samples[-1]
        hull = [s for s in upper_hull(self.samples) if s.t < last.t]
        middle = next((s for s in hull if s.t >= last.t / 2), hull[-1] if hull else None)
        if middle is None or last.t <= middle.t:
            return None
        return mbps(last.delivered - middle.delivered, last.t - middle.t)

    def _before_the_cap_mbps(self) -> float | None:
        """The whole-run average up to the sample before the last, when the byte cap ended the
        run: the last budget byte arrived somewhere in the final sampling interval, but that
        sample is taken up to 50 ms later, and at 40 Mbit/s a 2 MB run lasts ~0.45 s, so the
        average up to it reads up to ~11% low. Up to the sample before, the link was still
        busy: still a lower bound (slow start only lowers it), without the idle tail."""
        if self.decision != "byte_cap" or len(self.samples) < 3:
            return None
        before = self.samples[-2]
        return mbps(before.delivered, before.t) if before.t > 0 else None

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
            rate = max(self.whole_run_mbps() or 0.0, self._later_half_mbps() or 0.0,
                       self._before_the_cap_mbps() or 0.0)
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
