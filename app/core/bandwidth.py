"""Bandwidth preflight: is the link good enough for an AI job? Decided in seconds, on little data.

The rules for one direction live in app.core.bandwidth_rate (RateWatcher); this module holds the
result of a whole check, the reuse policy and the Preflight service the job path, the tray and
the `preflight` command call. Pure logic: the probe and the store are reached through the ports.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from app.core.bandwidth_passive import PassiveReading
from app.core.bandwidth_rate import (
    BITS_PER_BYTE,
    Estimate,
    ProbePolicy,
    RateWatcher,
    Sample,
    Verdict,
    mbps,
    upper_hull_slope,
)
from app.core.errors import MonitorError
from app.core.status import iso

__all__ = [
    "BITS_PER_BYTE",
    "PASSIVE",
    "BandwidthProbe",
    "CancelFlag",
    "Estimate",
    "PassiveSource",
    "Preflight",
    "PreflightResult",
    "ProbeCancelled",
    "ProbeLink",
    "ProbePolicy",
    "ProbeStore",
    "RateWatcher",
    "Sample",
    "Transfer",
    "Verdict",
    "combine",
    "fresh_enough",
    "mbps",
    "offline_result",
    "passive_transfer",
    "upper_hull_slope",
]

# Worst first: a combined verdict is the worst of the two directions.
_SEVERITY = {Verdict.OFFLINE: 3, Verdict.SLOW: 2, Verdict.MARGINAL: 1, Verdict.OK: 0}


class ProbeCancelled(MonitorError):
    """The probe was stopped on request (quit, a newer check, the operator). Nothing is recorded."""


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
            "measured_at": iso(self.measured_at),
            "reason": self.reason,
            "details": self.details,
        }

    def summary(self) -> str:
        """'slow: up 2.1 Mbps, download not measured (AI needs 5 Mbps)'."""
        up = ("upload not measured" if self.upload_mbps is None
              else f"up {self.upload_mbps:.1f} Mbps")
        down = ("download not measured" if self.download_mbps is None
                else f"down {self.download_mbps:.1f} Mbps")
        text = f"{self.verdict.value}: {up}, {down} (AI needs {self.threshold_mbps:g} Mbps)"
        return f"{text}: {self.reason}" if self.reason else text


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def direction_verdict(policy: ProbePolicy, transfer: Transfer | None) -> Verdict | None:
    return None if transfer is None else policy.verdict_for(transfer.estimate.mbps)


def combine(policy: ProbePolicy, up: Transfer | None, down: Transfer | None, seconds: float,
            measured_at: datetime) -> PreflightResult:
    verdicts = [v for v in (direction_verdict(policy, up), direction_verdict(policy, down)) if v]
    verdict = max(verdicts, key=lambda v: _SEVERITY[v])
    details = {t.direction: _transfer_json(policy, t) for t in (up, down) if t is not None}
    stalled = [t.direction for t in (up, down) if t and t.estimate.decided_by == "stalled"]
    reason = ""
    if stalled:
        reason = f"The cloud stopped taking data mid-check ({'/'.join(stalled)})."
    methods = sorted({t.method for t in (up, down) if t is not None})
    return PreflightResult(
        upload_mbps=up.estimate.mbps if up else None,
        download_mbps=down.estimate.mbps if down else None,
        verdict=verdict,
        threshold_mbps=policy.threshold_mbps,
        bytes_up=up.bytes_spent if up else 0,
        bytes_down=down.bytes_spent if down else 0,
        seconds=seconds,
        # The upload's way of counting, as before; "passive+..." when a photo's transfer stood in.
        method=up.method if up and PASSIVE not in methods else "+".join(methods),
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


class PassiveSource(Protocol):
    def latest_passive(self, direction: str) -> PassiveReading | None: ...


PASSIVE = "passive"


def passive_transfer(reading: PassiveReading) -> Transfer:
    """A reading from a photo's own transfer, standing in for that direction of a probe."""
    estimate = Estimate(reading.mbps, PASSIVE, reading.seconds, reading.bytes)
    return Transfer(reading.direction, estimate, 0, PASSIVE, 0.0,
                    {"source": reading.source, "counted_by": reading.method,
                     "measured_at": iso(reading.measured_at)})


class Preflight:
    """check(max_age) is what runs before each AI job: a young enough result is reused, otherwise
    one probe runs (one at a time: a second caller waits and then reuses the first's answer)."""

    def __init__(self, probe: BandwidthProbe, store: ProbeStore, clock: Callable[[], datetime],
                 policy: ProbePolicy | None = None, *, monotonic: Callable[[], float],
                 download_after_slow_upload: bool = False,
                 passive: PassiveSource | None = None):
        self._probe = probe
        self._passive = passive
        self._store = store
        self._clock = clock
        self._monotonic = monotonic
        self.policy = policy or ProbePolicy()
        self._download_after_slow_upload = download_after_slow_upload
        self._lock = threading.Lock()

    def check(self, max_age_seconds: float, cancel: CancelFlag | None = None) -> PreflightResult:
        with self._lock:
            latest = self._store.latest_probe()
            now = self._clock()
            if fresh_enough(latest, now, max_age_seconds, self.policy.threshold_mbps):
                assert latest is not None
                return latest
            known = self._fresh_passive(now, max_age_seconds)
            verdicts = {d: self.policy.verdict_for(t.estimate.mbps) for d, t in known.items()}
            if len(known) == 2 or Verdict.SLOW in verdicts.values():
                # The photos' own transfers answer the question: no probe, no byte spent.
                return combine(self.policy, known.get("up"), known.get("down"), 0.0, now)
            result = self.measure(cancel, known)
            self._store.record_probe(result)
            return result

    def _fresh_passive(self, now: datetime, max_age_seconds: float) -> dict[str, Transfer]:
        if self._passive is None or max_age_seconds <= 0:
            return {}
        known = {}
        for direction in ("up", "down"):
            reading = self._passive.latest_passive(direction)
            if reading is not None and 0 <= (now - reading.measured_at).total_seconds() \
                    <= max_age_seconds:
                known[direction] = passive_transfer(reading)
        return known

    def measure(self, cancel: CancelFlag | None = None,
                known: dict[str, Transfer] | None = None) -> PreflightResult:
        """Probe now (the directions not `known` already from a photo's own transfer).
        Expected failures come back as an offline result, cancellation raises."""
        known = known or {}
        started = self._monotonic()
        measured_at = self._clock()
        try:
            link = self._probe.connect(cancel)
        except ProbeCancelled:
            raise
        except MonitorError as error:
            return offline_result(self.policy, error, self._monotonic() - started, measured_at)
        up: Transfer | None = None
        policy = self.policy

        def budget_left() -> float:
            return policy.check_seconds - (self._monotonic() - started)

        try:
            # One budget for the whole check: the upload may use half of what is left unless it
            # is heading for "slow" (which ends the check), the download gets the rest.
            split = max(policy.min_direction_seconds, budget_left() / 2)
            up = known.get("up") or link.upload(
                RateWatcher(policy, link.rtt_seconds, split_at=split))
            up_done = self._monotonic() - started
            down = known.get("down")
            slow_up = policy.verdict_for(up.estimate.mbps) in (Verdict.SLOW, Verdict.OFFLINE)
            if down is None and (self._download_after_slow_upload or not slow_up):
                # A slow uplink already decides the answer; skipping the download saves the
                # guest's time and the hotspot's megabytes. (Measured anyway, for the
                # benchmark, it has the whole cap: the verdict is already known.)
                cap = policy.time_cap_seconds if slow_up else min(
                    policy.time_cap_seconds, max(policy.min_direction_seconds, budget_left()))
                down = link.download(RateWatcher(policy, link.rtt_seconds, time_cap=cap))
            verdict_seconds = self._monotonic() - started
        except ProbeCancelled:
            raise
        except MonitorError as error:
            # The bytes already sent still count against a metered hotspot.
            spent = up.bytes_spent if up else getattr(error, "bytes_spent", 0)
            return offline_result(self.policy, error, self._monotonic() - started, measured_at,
                                  bytes_up=spent)
        finally:
            link.close()
        result = combine(self.policy, up, down, verdict_seconds, measured_at)
        result.details["upload_done_seconds"] = round(up_done, 3)
        result.details["settled_seconds"] = round(self._monotonic() - started, 3)
        return result
