"""Record delivered-byte traces from the netns lab for the decision tests (needs root).

    .venv/bin/python -m tests.bandwidth.record_traces

Each trace is what the probe's watcher saw in ~3 s of a shaped transfer that was never stopped
early: (seconds since the first payload byte, bytes delivered). Re-record when the probe's
sampling changes; the tests only assume the verdicts written in `meta`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from app.adapters.bandwidth import HttpBandwidthProbe
from app.core.bandwidth import ProbePolicy, RateWatcher
from tests.bandwidth.netlab import TOKEN, NetLab, unavailable_reason

OUT = Path(__file__).parent / "recorded"
# (tbf Mbps, bottleneck queue ms): both sides of the threshold, with and without bufferbloat.
CASES = [(2, 100), (2, 300), (4.5, 20), (4.5, 100), (4.5, 300), (5.5, 20), (5.5, 100), (5.5, 300),
         (10, 100), (50, 100)]
NEVER_STOP = ProbePolicy(threshold_mbps=1e9, below_sustain_seconds=1e9, time_cap_seconds=3.2,
                         byte_cap=3_000_000, stall_seconds=5.0)


def record(lab: NetLab, url: str, rate: float, queue: int) -> None:
    lab.shape(rate, queue)

    def run() -> dict[str, object]:
        link = HttpBandwidthProbe(url, TOKEN).connect()
        try:
            traces = {}
            for direction in ("up", "down"):
                watcher = RateWatcher(NEVER_STOP, link.rtt_seconds)
                transfer = link.upload(watcher) if direction == "up" else link.download(watcher)
                traces[direction] = (transfer.method, watcher.samples)
            return {"rtt": link.rtt_seconds, "traces": traces}
        finally:
            link.close()

    got = lab.in_client(run)
    for direction, (method, samples) in got["traces"].items():  # type: ignore[union-attr]
        name = f"tbf{rate:g}mbit_q{queue}ms_{direction}".replace(".", "_")
        meta = {"tbf_mbps": rate, "queue_ms": queue, "direction": direction, "method": method,
                "rtt_seconds": round(got["rtt"], 6)}  # type: ignore[arg-type]
        data = {"meta": meta, "samples": [[round(s.t, 4), s.delivered] for s in samples]}
        (OUT / f"{name}.json").write_text(json.dumps(data) + "\n")
        print(name, len(samples), "samples", file=sys.stderr)


def main() -> int:
    reason = unavailable_reason()
    if reason:
        print(f"cannot record: {reason}", file=sys.stderr)
        return 1
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, NetLab(Path(tmp)) as lab:
        url = lab.start_cloud()
        for rate, queue in CASES:
            record(lab, url, rate, queue)
    return 0


if __name__ == "__main__":
    sys.exit(main())
