"""The Preflight service the job path calls: reuse, one probe at a time, failures, cancellation."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from app.core.bandwidth import (
    CancelFlag,
    Preflight,
    PreflightResult,
    ProbeCancelled,
    ProbePolicy,
    RateWatcher,
    Transfer,
    Verdict,
    fresh_enough,
)
from app.core.errors import CaptivePortal, CloudUnreachable
from tests.bandwidth.samples import synthetic

T0 = datetime(2026, 5, 1, 18, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class MemoryStore:
    def __init__(self) -> None:
        self.results: list[PreflightResult] = []

    def record_probe(self, result: PreflightResult) -> None:
        self.results.append(result)

    def latest_probe(self) -> PreflightResult | None:
        return self.results[-1] if self.results else None


class FakeLink:
    """Plays synthetic traces into the watchers, as the HTTP adapter plays real ones."""

    rtt_seconds = 0.02

    def __init__(self, probe: FakeProbe):
        self.probe = probe
        self.closed = False

    def _play(self, direction: str, rate: float | Exception, watcher: RateWatcher) -> Transfer:
        self.probe.calls.append(direction)
        if isinstance(rate, Exception):
            raise rate
        for s in synthetic(rate):
            if self.probe.cancel is not None and self.probe.cancel.is_set():
                raise ProbeCancelled("cancelled")
            if watcher.add(s.t, s.delivered):
                break
        estimate = watcher.finish()
        return Transfer(direction, estimate, estimate.delivered, "fake", estimate.seconds)

    def upload(self, watcher: RateWatcher) -> Transfer:
        self.probe.entered.set()
        self.probe.release.wait(5)
        return self._play("up", self.probe.up, watcher)

    def download(self, watcher: RateWatcher) -> Transfer:
        return self._play("down", self.probe.down, watcher)

    def close(self) -> None:
        self.closed = True


class FakeProbe:
    def __init__(self, up: float | Exception = 10.0, down: float | Exception = 10.0,
                 connect_error: Exception | None = None):
        self.up, self.down, self.connect_error = up, down, connect_error
        self.calls: list[str] = []
        self.links: list[FakeLink] = []
        self.cancel: CancelFlag | None = None
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def connect(self, cancel: CancelFlag | None = None) -> FakeLink:
        self.calls.append("connect")
        self.cancel = cancel
        if self.connect_error is not None:
            raise self.connect_error
        link = FakeLink(self)
        self.links.append(link)
        return link


def service(probe: FakeProbe, store: MemoryStore | None = None, clock: Clock | None = None,
            **kwargs: object) -> Preflight:
    return Preflight(probe, store or MemoryStore(), clock or Clock(), ProbePolicy(),
                     monotonic=lambda: 0.0, **kwargs)  # type: ignore[arg-type]


def test_a_good_link_measures_both_ways_and_is_recorded():
    probe, store = FakeProbe(up=12, down=30), MemoryStore()
    result = service(probe, store).check(max_age_seconds=60)
    assert result.verdict is Verdict.OK
    assert result.upload_mbps == pytest.approx(12, rel=0.1)
    assert result.download_mbps == pytest.approx(30, rel=0.1)
    assert probe.calls == ["connect", "up", "down"]
    assert store.results == [result]
    assert probe.links[0].closed
    assert set(result.to_json()) >= {"upload_mbps", "download_mbps", "verdict", "threshold_mbps",
                                     "bytes_up", "bytes_down", "seconds", "method"}


def test_a_fresh_result_is_reused_before_the_next_job():
    probe, store, clock = FakeProbe(), MemoryStore(), Clock()
    preflight = service(probe, store, clock)
    first = preflight.check(60)
    clock.now = T0 + timedelta(seconds=45)
    assert preflight.check(60) is first
    assert probe.calls.count("connect") == 1
    clock.now = T0 + timedelta(seconds=61)
    assert preflight.check(60) is not first
    assert probe.calls.count("connect") == 2


def test_an_offline_result_is_never_reused():
    probe = FakeProbe(connect_error=CloudUnreachable("Cannot connect to the cloud."))
    preflight = service(probe)
    assert preflight.check(60).verdict is Verdict.OFFLINE
    assert preflight.check(60).verdict is Verdict.OFFLINE
    assert probe.calls.count("connect") == 2


def test_reuse_rules():
    ok = service(FakeProbe()).measure()
    assert fresh_enough(ok, ok.measured_at + timedelta(seconds=60), 60, 5.0)
    assert not fresh_enough(ok, ok.measured_at + timedelta(seconds=61), 60, 5.0)
    assert not fresh_enough(ok, ok.measured_at - timedelta(seconds=5), 60, 5.0)  # clock went back
    assert not fresh_enough(ok, ok.measured_at, 60, 8.0)  # judged against another threshold
    assert not fresh_enough(ok, ok.measured_at, 0, 5.0)
    assert not fresh_enough(None, T0, 60, 5.0)


def test_a_slow_upload_decides_without_spending_on_the_download():
    probe = FakeProbe(up=2, down=30)
    result = service(probe).check(0)
    assert result.verdict is Verdict.SLOW
    assert probe.calls == ["connect", "up"]
    assert result.download_mbps is None and result.bytes_down == 0


def test_the_download_can_be_measured_anyway():
    probe = FakeProbe(up=2, down=30)
    result = service(probe, download_after_slow_upload=True).check(0)
    assert probe.calls == ["connect", "up", "down"]
    assert result.verdict is Verdict.SLOW
    assert result.details["down"]["verdict"] == "ok"


def test_a_slow_download_makes_the_whole_check_slow():
    assert service(FakeProbe(up=12, down=2)).check(0).verdict is Verdict.SLOW


def test_marginal_when_either_way_is_near_the_threshold():
    assert service(FakeProbe(up=12, down=5.1)).check(0).verdict is Verdict.MARGINAL


def test_a_captive_portal_is_an_offline_result_with_the_reason():
    probe = FakeProbe(connect_error=CaptivePortal("A web page answered instead of the cloud."))
    result = service(probe).check(0)
    assert result.verdict is Verdict.OFFLINE
    assert "web page" in result.reason
    assert result.details["error"] == "CaptivePortal"


def test_a_failure_mid_way_keeps_the_bytes_already_spent():
    probe = FakeProbe(up=12, down=CloudUnreachable("The connection broke off mid-check."))
    result = service(probe).check(0)
    assert result.verdict is Verdict.OFFLINE
    assert result.bytes_up > 0
    assert probe.links[0].closed


def test_a_cancelled_check_records_nothing_and_closes_the_link():
    probe, store = FakeProbe(), MemoryStore()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ProbeCancelled):
        service(probe, store).check(0, cancel)
    assert store.results == []
    assert probe.links[0].closed


def test_two_callers_at_once_share_one_probe():
    probe, store = FakeProbe(), MemoryStore()
    probe.release.clear()
    preflight = service(probe, store)
    results: list[PreflightResult] = []
    threads = [threading.Thread(target=lambda: results.append(preflight.check(60)))
               for _ in range(2)]
    for t in threads:
        t.start()
    assert probe.entered.wait(5)
    probe.release.set()
    for t in threads:
        t.join(5)
    assert probe.calls.count("connect") == 1
    assert results[0] is results[1]


def test_link_line_for_the_tray():
    from app.core.cache import CachedState
    from app.core.conditions import link_line
    from app.core.status import ViewSettings, build_view

    view = build_view(CachedState(), T0, ViewSettings("https://c"))
    assert link_line(None, view, T0) == "Connection not checked yet"
    measured = service(FakeProbe(up=12)).measure()
    text = link_line(measured, view, T0 + timedelta(minutes=3))
    assert text.startswith("Connection fast enough: up 12.") and "down" in text
    failed = service(FakeProbe(connect_error=CloudUnreachable("x"))).measure()
    assert link_line(failed, view, T0).endswith("found no cloud")
    assert "not measured" in failed.summary() and " - Mbps" not in failed.summary()


class PassiveStore:
    def __init__(self, **readings: float) -> None:
        from app.core.bandwidth_passive import PassiveReading

        self.readings = {d: PassiveReading(d, rate, T0, 1.5, 3_000_000, "tcp_info_acked", "job")
                         for d, rate in readings.items()}

    def latest_passive(self, direction: str):  # type: ignore[no-untyped-def]
        return self.readings.get(direction)


def test_fresh_passive_readings_both_ways_answer_without_a_probe():
    probe, store = FakeProbe(), MemoryStore()
    result = service(probe, store, passive=PassiveStore(up=8.0, down=20.0)).check(60)
    assert result.verdict is Verdict.OK
    assert result.method == "passive"
    assert result.bytes_up == result.bytes_down == 0
    assert probe.calls == [] and store.results == []


def test_a_slow_passive_upload_is_enough_to_say_slow():
    probe = FakeProbe()
    result = service(probe, passive=PassiveStore(up=2.0)).check(60)
    assert result.verdict is Verdict.SLOW
    assert probe.calls == []


def test_only_the_direction_without_a_fresh_reading_is_probed():
    probe, store = FakeProbe(down=12.0), MemoryStore()
    result = service(probe, store, passive=PassiveStore(up=9.0)).check(60)
    assert probe.calls == ["connect", "down"]
    assert result.verdict is Verdict.OK
    assert result.details["up"]["method"] == "passive"
    assert result.bytes_up == 0


def test_a_stale_passive_reading_does_not_count():
    probe, clock = FakeProbe(), Clock()
    clock.now = T0 + timedelta(seconds=61)
    service(probe, clock=clock, passive=PassiveStore(up=9.0, down=9.0)).check(60)
    assert probe.calls == ["connect", "up", "down"]
