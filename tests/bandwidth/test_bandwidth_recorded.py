"""The decision rules on traces recorded from really shaped links (tests/bandwidth/recorded/).

Each trace ran ~3 s without early stopping; played back through the default policy it must reach
the verdict the link's goodput deserves (about 96% of the tbf rate: tbf also counts headers),
early where the answer is clear.
"""

from __future__ import annotations

import pytest

from app.core.bandwidth import ProbePolicy, Verdict
from tests.bandwidth.samples import RECORDED, feed, recorded

NAMES = sorted(p.stem for p in RECORDED.glob("*.json"))
GOODPUT = 0.955  # goodput / tbf rate with 1500-byte frames


def expected(tbf_mbps: float) -> Verdict:
    return ProbePolicy().verdict_for(tbf_mbps * GOODPUT)


@pytest.mark.parametrize("name", NAMES)
def test_recorded_trace_gets_the_right_verdict(name):
    meta, samples = recorded(name)
    estimate, _ = feed(samples, rtt=float(meta["rtt_seconds"]))
    assert ProbePolicy().verdict_for(estimate.mbps) is expected(float(meta["tbf_mbps"])), estimate


@pytest.mark.parametrize("name", [n for n in NAMES if "tbf50" not in n])
def test_recorded_rate_is_within_ten_percent_up_to_twenty_mbps(name):
    meta, samples = recorded(name)
    estimate, _ = feed(samples, rtt=float(meta["rtt_seconds"]))
    true = float(meta["tbf_mbps"]) * GOODPUT
    assert estimate.mbps == pytest.approx(true, rel=0.10)


@pytest.mark.parametrize(("prefix", "limit"), [("tbf50", 1.0), ("tbf10", 1.5)])
def test_fast_recorded_links_are_called_early(prefix, limit):
    names = [n for n in NAMES if n.startswith(prefix)]
    assert names
    for name in names:
        meta, samples = recorded(name)
        estimate, _ = feed(samples, rtt=float(meta["rtt_seconds"]))
        assert estimate.decided_by in ("above", "byte_cap"), name
        assert estimate.seconds <= limit, name


def test_there_are_recorded_traces():
    assert len(NAMES) >= 10
