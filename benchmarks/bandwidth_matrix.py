"""Bandwidth preflight on real kernel-shaped links, against a naive baseline, in one table.

    python3 dev.py bench bandwidth [--runs=N] [--rates=2,4.5,5.5,10,50] [--queues=20,100,300]
    .venv/bin/python -m benchmarks.bandwidth_matrix --runs=4 --markdown=out.md

Needs root, iproute2 and tbf (tests/bandwidth/netlab.py builds client - router - server network
namespaces; the demo cloud runs in the server one). This kernel has no netem, so there is no added
propagation delay or random loss: the matrix varies the token-bucket rate and the bottleneck queue
(tbf latency), which is the RTT a bufferbloated venue link shows under load.

"True" rate is the goodput the link really carries, measured per rate in the same run by a long
transfer (about 96% of the tbf rate: tbf counts IP and TCP headers). The expected verdict is the
one that true rate gets under the same +-10% bands; a verdict is "correct" when it matches.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from app.adapters.bandwidth import HttpBandwidthProbe
from app.core.bandwidth import Preflight, PreflightResult, ProbePolicy, RateWatcher, Transfer
from benchmarks._machine import machine
from benchmarks._naive_probe import naive_download, naive_upload
from tests.bandwidth.netlab import TOKEN, NetLab, unavailable_reason

RATES = (2.0, 4.5, 5.5, 10.0, 50.0)
QUEUES = (20, 100, 300)
DIRS = ("up", "down")


@dataclass
class Run:
    mbps: float | None
    verdict: str
    decide_s: float  # first payload byte to decision
    wall_s: float  # the whole direction, including finishing the request
    bytes: int
    method: str


@dataclass
class Cell:
    rate: float
    queue_ms: int
    direction: str
    true_mbps: float
    ours: list[Run] = field(default_factory=list)
    naive: list[Run] = field(default_factory=list)


class _NoStore:
    def record_probe(self, result: PreflightResult) -> None: ...

    def latest_probe(self) -> PreflightResult | None:
        return None


def _run_from(policy: ProbePolicy, t: Transfer) -> Run:
    return Run(t.estimate.mbps, policy.verdict_for(t.estimate.mbps).value, t.estimate.seconds,
               t.wall_seconds, t.bytes_spent, t.method)


def _run_from_details(result: PreflightResult, direction: str) -> Run:
    d = result.details.get(direction)
    if d is None:  # the whole check failed: count it as a wrong, slow answer
        return Run(None, result.verdict.value, result.seconds, result.seconds, 0, "none")
    return Run(d["mbps"], d["verdict"], d["decided_after_seconds"], d["wall_seconds"],
               d["bytes_spent"], d["method"])


def calibrate(lab: NetLab, url: str, rate: float) -> dict[str, float]:
    """Goodput of the shaped path: a long transfer with its first second left out."""
    seconds = 4.0
    budget = int(min(15e6, rate * 1e6 / 8 * (seconds + 1.5)))
    # No early stop: a threshold no link reaches and a "below" that never fires.
    policy = ProbePolicy(threshold_mbps=1e9, min_ramp_seconds=1.0, below_sustain_seconds=1e9,
                         time_cap_seconds=seconds, byte_cap=budget, stall_seconds=5.0)

    def measure() -> dict[str, float]:
        link = HttpBandwidthProbe(url, TOKEN).connect()
        try:
            up = link.upload(RateWatcher(policy, 0.0))
            down = link.download(RateWatcher(policy, 0.0))
        finally:
            link.close()
        return {"up": up.extra.get("server_mbps") or up.estimate.mbps or 0.0,
                "down": down.estimate.mbps or 0.0}

    return lab.in_client(measure)


def one_round(lab: NetLab, url: str, policy: ProbePolicy) -> tuple[dict[str, Run], dict[str, Run]]:
    def ours() -> dict[str, Run]:
        # The real code path, except that a slow upload does not skip the download here.
        service = Preflight(HttpBandwidthProbe(url, TOKEN), _NoStore(),
                            lambda: datetime.now(timezone.utc), policy,
                            monotonic=time.monotonic, download_after_slow_upload=True)
        result = service.measure()
        return {d: _run_from_details(result, d) for d in DIRS}

    def naive() -> dict[str, Run]:
        link = HttpBandwidthProbe(url, TOKEN).connect()
        try:
            return {"up": _run_from(policy, naive_upload(link, policy)),
                    "down": _run_from(policy, naive_download(link, policy))}
        finally:
            link.close()

    return lab.in_client(ours), lab.in_client(naive)


# -- figures ---------------------------------------------------------------------------------------


def _err(run: Run, true: float) -> float | None:
    return None if run.mbps is None else abs(run.mbps - true) / true * 100


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _side(runs: list[Run], true: float, expected: str) -> list[str]:
    rates = [r.mbps for r in runs if r.mbps is not None]
    errors = [e for e in (_err(r, true) for r in runs) if e is not None]
    correct = sum(r.verdict == expected for r in runs)
    decide = [r.decide_s for r in runs]
    return [
        _fmt(statistics.median(rates) if rates else None),
        _fmt(max(errors) if errors else None, ".1f"),
        f"{correct}/{len(runs)}",
        f"{statistics.median(decide):.2f}/{max(decide):.2f}",
        f"{max(r.bytes for r in runs) / 1e6:.2f}",
    ]


HEADER = ["dir", "tbf Mbps", "queue ms", "true Mbps", "expected",
          "ours Mbps", "worst err %", "correct", "decide s med/max", "max MB",
          "naive Mbps", "worst err %", "correct", "seconds med/max", "max MB"]


def table(cells: list[Cell], policy: ProbePolicy) -> list[str]:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for c in cells:
        expected = policy.verdict_for(c.true_mbps).value
        row = [c.direction, f"{c.rate:g}", str(c.queue_ms), f"{c.true_mbps:.2f}", expected,
               *_side(c.ours, c.true_mbps, expected), *_side(c.naive, c.true_mbps, expected)]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def targets(cells: list[Cell], policy: ProbePolicy) -> list[str]:
    def pick(side: str, keep: Callable[[Cell], bool]) -> list[tuple[Cell, Run]]:
        return [(c, r) for c in cells if keep(c) for r in getattr(c, side)]

    lines = []
    for side in ("ours", "naive"):
        edge = pick(side, lambda c: c.rate in (4.5, 5.5))
        ok = sum(r.verdict == policy.verdict_for(c.true_mbps).value for c, r in edge)
        mid = pick(side, lambda c: 2 <= c.rate <= 20)
        within = sum((_err(r, c.true_mbps) or 999) <= 10 for c, r in mid)
        everything = pick(side, lambda c: True)
        fast = pick(side, lambda c: c.rate >= 20)
        slowest = max((r.decide_s for _, r in everything), default=0)
        slowest_fast = max((r.decide_s for _, r in fast), default=0)
        most = max((r.bytes for _, r in everything), default=0)
        lines += [
            f"{side}: correct verdict at 4.5/5.5 Mbps: {ok}/{len(edge)} "
            f"({_pct(ok, len(edge))}; target >= 95%)",
            f"{side}: rate error <= 10% at 2-20 Mbps: {within}/{len(mid)} "
            f"({_pct(within, len(mid))} of runs; target all)",
            f"{side}: slowest decision {slowest:.2f} s (target <= 3 s); at >= 20 Mbps "
            f"{slowest_fast:.2f} s (target <= 1 s)",
            f"{side}: most bytes in one direction {most / 1e6:.2f} MB (target <= 2 MB)",
        ]
    return lines


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.0f}%" if n else "-"


# -- running ---------------------------------------------------------------------------------------


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bandwidth_matrix", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=4, help="runs per cell (default 4)")
    parser.add_argument("--rates", type=_floats, default=list(RATES), help="tbf rates, Mbps")
    parser.add_argument("--queues", type=_floats, default=list(QUEUES),
                        help="bottleneck queue (tbf latency), ms")
    parser.add_argument("--threshold", type=float, default=5.0, help="Mbps (default 5)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason:
        print(f"bandwidth_matrix: skipped: {reason}")
        return 0
    policy = ProbePolicy(threshold_mbps=args.threshold)
    started = time.monotonic()
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory() as tmp, NetLab(Path(tmp)) as lab:
        url = lab.start_cloud()
        for rate in args.rates:
            lab.shape(rate, 100)
            true = calibrate(lab, url, rate)
            print(f"tbf {rate:g} Mbps: goodput up {true['up']:.2f}, down {true['down']:.2f}",
                  file=sys.stderr, flush=True)
            for queue in args.queues:
                lab.shape(rate, int(queue))
                row = {d: Cell(rate, int(queue), d, true[d]) for d in DIRS}
                for _ in range(args.runs):
                    ours, naive = one_round(lab, url, policy)
                    for d in DIRS:
                        row[d].ours.append(ours[d])
                        row[d].naive.append(naive[d])
                cells += row.values()
                print(f"  queue {queue:g} ms done ({time.monotonic() - started:.0f} s)",
                      file=sys.stderr, flush=True)
    cells.sort(key=lambda c: (c.direction != "up", c.rate, c.queue_ms))
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"Bandwidth preflight matrix, {when}; {machine()}",
           f"threshold {args.threshold:g} Mbps, {args.runs} runs per cell, "
           f"{time.monotonic() - started:.0f} s in all", "", *table(cells, policy), "",
           *targets(cells, policy)]
    print("\n".join(out))
    if args.markdown:
        args.markdown.write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
