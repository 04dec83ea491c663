"""The decision rules on synthetic traces: ramp, noise, bursts, stalls, caps and the bands."""

from __future__ import annotations

import pytest

from app.core.bandwidth import ProbePolicy, RateWatcher, Verdict, mbps
from tests.bandwidth.samples import feed, synthetic

POLICY = ProbePolicy()


def within(value: float | None, true: float, share: float = 0.10) -> bool:
    return value is not None and abs(value - true) <= true * share


@pytest.mark.parametrize(("rate", "verdict"), [
    (5.5, Verdict.OK), (5.49, Verdict.MARGINAL), (5.0, Verdict.MARGINAL), (4.5, Verdict.MARGINAL),
    (4.49, Verdict.SLOW), (0.0, Verdict.SLOW), (None, Verdict.OFFLINE),
])
def test_bands_around_the_threshold(rate, verdict):
    assert POLICY.verdict_for(rate) is verdict


def test_ramp_starts_at_three_rtts_or_three_tenths():
    assert RateWatcher(POLICY, 0.01).ramp_end == pytest.approx(0.3)
    assert RateWatcher(POLICY, 0.2).ramp_end == pytest.approx(0.6)


def test_a_link_just_above_gets_a_second_of_post_ramp_data_first():
    # Twice the line or less: the rate is reported, so it is read after the roughest second.
    estimate, _ = feed(synthetic(9, ramp=0.2))
    assert estimate.decided_by == "above"
    assert 1.2 <= estimate.seconds <= 1.5
    assert within(estimate.mbps, 9, 0.03)


def test_a_fast_link_is_called_within_a_second():
    estimate, _ = feed(synthetic(20, ramp=0.2))
    assert estimate.decided_by == "above"
    assert estimate.seconds <= 1.0
    assert within(estimate.mbps, 20)
    assert POLICY.verdict_for(estimate.mbps) is Verdict.OK


def test_a_slow_link_is_called_after_the_sustained_window():
    estimate, _ = feed(synthetic(2, ramp=0.3))
    assert estimate.decided_by == "below"
    # ramp (0.3 s) + a minimal window (0.2 s) + 1.5 s sustained, on a 50 ms grid
    assert 1.9 <= estimate.seconds <= 2.2
    assert within(estimate.mbps, 2)


def test_near_the_threshold_says_marginal_once_the_bound_is_tight():
    estimate, _ = feed(synthetic(5.0, noise=0.1, seed=3))
    assert estimate.decided_by in ("marginal", "time_cap")
    assert estimate.seconds <= 3.0
    assert POLICY.verdict_for(estimate.mbps) is Verdict.MARGINAL


def test_a_steady_link_in_the_band_is_called_marginal_after_the_confidence_window():
    # ramp (0.3 s) + 0.8 s of post-ramp data whose halves agree: no need to run to the cap.
    estimate, _ = feed(synthetic(5.0, ramp=0.2))
    assert estimate.decided_by == "marginal"
    assert 1.05 <= estimate.seconds <= 1.25
    assert within(estimate.mbps, 5.0, 0.02)


def test_a_link_still_ramping_is_not_called_marginal_early():
    # A slow ramp that passes through the band on its way to 8 Mbps: the halves disagree.
    estimate, _ = feed(synthetic(8.0, ramp=1.6))
    assert estimate.decided_by != "marginal"
    assert POLICY.verdict_for(estimate.mbps) is Verdict.OK


def test_the_split_ends_an_unclear_run_but_not_a_slow_one():
    # The upload's share of the check's budget: a run near the line stops there, so the
    # download gets the rest; a slow one goes on (it ends the check and deserves a good rate).
    watcher = RateWatcher(POLICY, split_at=0.9)
    for s in synthetic(6.2, noise=0.25, seed=2):
        if watcher.add(s.t, s.delivered):
            break
    assert watcher.decision in ("split", "marginal", "above")
    assert watcher.samples[-1].t <= 0.95
    slow, _ = feed(synthetic(2.0), None)
    watcher = RateWatcher(POLICY, split_at=0.9)
    for s in synthetic(2.0):
        if watcher.add(s.t, s.delivered):
            break
    assert watcher.decision == "below" and slow.decided_by == "below"


def test_a_shorter_time_cap_for_the_download_share():
    watcher = RateWatcher(POLICY, time_cap=1.0)
    for s in synthetic(5.2, noise=0.3, seed=4):
        if watcher.add(s.t, s.delivered):
            break
    assert watcher.samples[-1].t <= 1.05


def test_the_ramp_is_left_out_of_the_rate():
    # A slow 1 s ramp at 5.8 Mbps: the whole-run average (about 4.8 Mbps) would say
    # "marginal", the post-ramp rate says what the link really does.
    samples = synthetic(5.8, ramp=1.0)
    estimate, watcher = feed(samples, rtt=0.35)
    assert watcher.ramp_end == pytest.approx(1.05)
    whole = mbps(samples[57].delivered, samples[57].t)
    assert whole < 5.5
    assert within(estimate.mbps, 5.8, 0.03)
    assert POLICY.verdict_for(estimate.mbps) is Verdict.OK


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("rate", [2.0, 3.5, 8.0, 12.0])
def test_heavy_noise_still_gives_the_right_verdict(rate, seed):
    # 30% noise on every 50 ms step: far jumpier than a wired or a good Wi-Fi link.
    estimate, _ = feed(synthetic(rate, noise=0.3, seed=seed))
    assert POLICY.verdict_for(estimate.mbps) is POLICY.verdict_for(rate)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("rate", [2.0, 3.5, 8.0, 12.0, 20.0])
def test_moderate_noise_keeps_the_rate_within_ten_percent(rate, seed):
    estimate, _ = feed(synthetic(rate, noise=0.1, seed=seed))
    assert within(estimate.mbps, rate)


def test_an_early_burst_does_not_pass_for_a_fast_link():
    # 200 kB let through at once (a shaper's bucket, an access point's buffer), then 3 Mbps.
    estimate, _ = feed(synthetic(3, ramp=0.05, burst=200_000))
    assert estimate.decided_by == "below"
    assert POLICY.verdict_for(estimate.mbps) is Verdict.SLOW


def test_a_stall_mid_probe_is_offline_not_slow():
    # The server stops taking data after 0.8 s: the path is gone, not merely slow.
    estimate, _ = feed(synthetic(4, stall_at=0.8))
    assert estimate.decided_by == "stalled"
    assert estimate.mbps is None
    assert POLICY.verdict_for(estimate.mbps) is Verdict.OFFLINE
    assert 1.75 <= estimate.seconds <= 1.9


def test_a_stall_after_a_clear_answer_does_not_matter():
    estimate, _ = feed(synthetic(25, stall_at=0.9))
    assert estimate.decided_by == "above"
    assert estimate.seconds < 0.9


def test_a_short_pause_is_not_a_stall():
    samples = synthetic(6.5, ramp=0.1)
    # Nothing acknowledged for 0.6 s (a Wi-Fi retransmission burst), then the backlog at once.
    paused = [s if not 1.0 <= s.t < 1.6 else type(s)(s.t, samples[19].delivered) for s in samples]
    estimate, _ = feed(paused)
    assert estimate.decided_by != "stalled"
    assert estimate.mbps is not None


def test_the_byte_cap_ends_a_run_on_a_fast_link():
    policy = ProbePolicy(byte_cap=500_000)
    estimate, _ = feed(synthetic(40, ramp=0.05), policy)
    assert estimate.decided_by in ("above", "byte_cap")
    assert estimate.delivered < 700_000
    assert within(estimate.mbps, 40, 0.15)


def test_nothing_delivered_is_offline():
    estimate, _ = feed(synthetic(0.0))
    assert estimate.decided_by == "no_data"
    assert estimate.mbps is None


def test_counters_never_go_back_and_late_samples_are_ignored():
    watcher = RateWatcher(POLICY)
    watcher.add(0.1, 10_000)
    watcher.add(0.2, 5_000)  # a lower count (a stale progress answer) does not undo progress
    watcher.add(0.15, 50_000)  # out of order: ignored
    assert [s.delivered for s in watcher.samples] == [10_000, 10_000]


def test_replay_runs_recorded_samples_through_the_same_rules():
    samples = synthetic(2.0)
    estimate = RateWatcher.replay(POLICY, 0.0, samples)
    assert estimate.decided_by == "below"
    assert within(estimate.mbps, 2.0)


def test_a_lower_threshold_changes_the_answer():
    policy = POLICY.with_threshold(1.5)
    estimate, _ = feed(synthetic(2.0), policy)
    assert estimate.decided_by == "above"
    assert policy.verdict_for(estimate.mbps) is Verdict.OK


def test_a_late_first_byte_shortens_the_cap_but_not_below_a_directions_minimum():
    watcher = RateWatcher(POLICY, time_cap=1.5)
    watcher.started_late(0.3)
    assert watcher.time_cap == pytest.approx(1.2)
    short = RateWatcher(POLICY, time_cap=1.1)
    short.started_late(0.5)
    assert short.time_cap == pytest.approx(POLICY.min_direction_seconds)
    tiny = RateWatcher(POLICY, time_cap=0.8)  # already under the minimum: left as it was
    tiny.started_late(0.5)
    assert tiny.time_cap == pytest.approx(0.8)


def test_a_run_the_byte_cap_ended_is_not_read_low_for_its_idle_tail():
    # 40 Mbit/s (5 MB/s): the upload's 2 MB wire budget (1,999,015 payload bytes, chunk
    # framing left out) is all acknowledged at 0.40 s, but the sample that sees it comes at
    # 0.45 s (every 50 ms): the whole-run average would read 11% low.
    watcher = RateWatcher(POLICY, 0.001)
    for i in range(1, 8):
        assert not watcher.add(i * 0.05, int(5e6 * i * 0.05))
    watcher.add(0.45, 1_999_015)
    estimate = watcher.finish("byte_cap")
    assert estimate.mbps == pytest.approx(40.0, rel=0.03)
    assert estimate.decided_by == "byte_cap"


def test_a_loss_hole_in_the_middle_of_a_short_fast_run_is_not_read_as_link_rate():
    # 40 Mbit/s, over in 0.4 s (too short for a post-ramp rate): the sample at 0.20 s falls in
    # a loss hole (150 kB held back), then the count catches up. The later half must not start
    # in the hole, or the catch-up reads as a 46 Mbit/s link.
    watcher = RateWatcher(POLICY, 0.001)
    for i in range(1, 8):
        t = i * 0.05
        watcher.add(t, int(5e6 * t) - (150_000 if i == 4 else 0))
    watcher.add(0.40, 2_000_000)
    estimate = watcher.finish("finished")
    assert estimate.mbps == pytest.approx(40.0, rel=0.03)
