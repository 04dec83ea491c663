"""Bandwidth preflight on real kernel-shaped links, side by side with ndt7 and iperf3.

    python3 dev.py bench bandwidth [--runs=N] [--rates=2,4.5,5.5,10,20,40] [--queues=20,200]
        (a reduced set of cells, e.g. on a shared machine: --rates=2,5.5,20 --queues=200 --runs=2)
    .venv/bin/python -m benchmarks.bandwidth_matrix --runs=3 --markdown=out.md

Needs root, iproute2 and tbf (tests/bandwidth/netlab.py builds client - router - server network
namespaces; the demo cloud runs in the server one). This kernel has no netem, so there is no added
propagation delay or random loss: the matrix varies the token-bucket rate and the bottleneck queue
(tbf latency), which is the RTT a bufferbloated venue link shows under load.

The truth per cell and direction is a 10 s iperf3 run on the same shaped path (see _peers.py for
how its figure is read); the expected verdict is the one that rate gets under the +-10% bands.
Per cell and direction, one M-Lab ndt7 test (npm's client against a local ndt7 server, see
_ndt7.py) and the iperf3 run itself are shown beside the preflight: verdict, rate error against
the truth, seconds and bytes. Without iperf3 or ndt7 their columns say "skipped" and the lines
under the table say why (without iperf3 the truth is the tbf rate, which reads ~5% high).
The preflight is the real code path (Preflight.measure), except that a slow upload does not skip
the download, so both directions are measured in every run; its "verdict s" is from the start of
the check (connection included) to the moment the verdict is known: the end of a slow upload,
else the end of the download.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from app.adapters.bandwidth import HttpBandwidthProbe
from app.core.bandwidth import Preflight, PreflightResult, ProbePolicy
from app.core.bandwidth_passive import PassiveReading
from benchmarks._machine import machine
from benchmarks._ndt7 import Ndt7Run, Ndt7Server, ndt7, ndt7_reason
from benchmarks._passive import Reading, photo_job
from benchmarks._peers import IperfRun, iperf3, iperf3_reason
from tests.bandwidth.netlab import SERVER_IP, TOKEN, NetLab, unavailable_reason

RATES = (2.0, 4.5, 5.5, 10.0, 20.0, 40.0)
QUEUES = (20, 200)
DIRS = ("up", "down")


@dataclass
class Run:
    mbps: float | None
    verdict: str  # this direction's own verdict
    check_verdict_s: float  # the whole check: start to verdict known
    bytes: int


@dataclass
class Cell:
    rate: float
    queue_ms: int
    direction: str
    iperf: IperfRun | None
    ndt7: Ndt7Run | None = None
    runs: list[Run] = field(default_factory=list)
    passive: Reading | None = None  # the photo job's transfer in this direction

    @property
    def truth(self) -> float:
        return self.iperf.truth_mbps if self.iperf else self.rate


class _NoStore:
    def record_probe(self, result: PreflightResult) -> None: ...

    def latest_probe(self) -> PreflightResult | None:
        return None


def one_check(lab: NetLab, url: str, policy: ProbePolicy) -> dict[str, Run]:
    def run() -> PreflightResult:
        service = Preflight(HttpBandwidthProbe(url, TOKEN), _NoStore(),
                            lambda: datetime.now(timezone.utc), policy,
                            monotonic=time.monotonic, download_after_slow_upload=True)
        return service.measure()

    result = lab.in_client(run)
    up = result.details.get("up")
    slow_up = up is not None and up["verdict"] in ("slow", "offline")
    verdict_s = result.details.get("upload_done_seconds", result.seconds) if slow_up \
        else result.seconds
    out = {}
    for d in DIRS:
        got = result.details.get(d)
        out[d] = (Run(None, result.verdict.value, verdict_s, 0) if got is None
                  else Run(got["mbps"], got["verdict"], verdict_s, got["bytes_spent"]))
    return out


# -- figures ---------------------------------------------------------------------------------------


def _err(value: float | None, true: float) -> float | None:
    return None if value is None else (value - true) / true * 100


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


HEADER = ["dir", "tbf Mbit/s", "queue ms", "truth Mbps", "expected",
          "preflight Mbps", "err % worst", "correct", "verdict s med/max", "MB max",
          "ndt7 Mbps", "err %", "verdict", "s", "MB",
          "iperf3 reports", "err %", "verdict", "s", "MB"]
SKIPPED = ["skipped", "-", "-", "-", "-"]


def peer(mbps: float, truth: float, seconds: float, nbytes: int, policy: ProbePolicy,
         expected: str) -> list[str]:
    """A peer tool's five columns; its verdict marked when it is not the expected one."""
    verdict = policy.verdict_for(mbps).value
    return [f"{mbps:.2f}", _fmt(_err(mbps, truth), "+.1f"),
            verdict if verdict == expected else f"**{verdict}**", f"{seconds:.1f}",
            f"{nbytes / 1e6:.1f}"]


def table(cells: list[Cell], policy: ProbePolicy) -> list[str]:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for c in cells:
        expected = policy.verdict_for(c.truth).value
        rates = [r.mbps for r in c.runs if r.mbps is not None]
        errors = [e for e in (_err(r.mbps, c.truth) for r in c.runs) if e is not None]
        worst = max(errors, key=abs) if errors else None
        secs = [r.check_verdict_s for r in c.runs]
        row = [c.direction, f"{c.rate:g}", str(c.queue_ms), f"{c.truth:.2f}", expected,
               _fmt(statistics.median(rates) if rates else None), _fmt(worst, "+.1f"),
               f"{sum(r.verdict == expected for r in c.runs)}/{len(c.runs)}",
               f"{statistics.median(secs):.2f}/{max(secs):.2f}",
               f"{max(r.bytes for r in c.runs) / 1e6:.2f}"]
        row += (peer(c.ndt7.mbps, c.truth, c.ndt7.seconds, c.ndt7.bytes, policy, expected)
                if c.ndt7 else SKIPPED)
        row += (peer(c.iperf.summary_mbps, c.truth, c.iperf.seconds, c.iperf.bytes, policy,
                     expected) if c.iperf else SKIPPED)
        lines.append("| " + " | ".join(row) + " |")
    return lines


def versus_ndt7(cells: list[Cell]) -> str:
    """The preflight's whole check (both directions) as a share of ndt7's two tests, in time and
    in bytes: medians over the runs of every cell where ndt7 ran."""
    times, volumes = [], []
    for up in (c for c in cells if c.direction == "up"):
        down = next(c for c in cells if c.direction == "down" and (c.rate, c.queue_ms) ==
                    (up.rate, up.queue_ms))
        if up.ndt7 is None or down.ndt7 is None:
            continue
        for r_up, r_down in zip(up.runs, down.runs, strict=True):
            times.append(r_up.check_verdict_s / (up.ndt7.seconds + down.ndt7.seconds))
            volumes.append((r_up.bytes + r_down.bytes) / (up.ndt7.bytes + down.ndt7.bytes))
    if not times:
        return ""
    return (f"preflight vs ndt7 (median over runs): {statistics.median(times):.2f}x its time, "
            f"{statistics.median(volumes):.2f}x its bytes")


PASSIVE_HEADER = ["dir", "tbf Mbit/s", "queue ms", "truth Mbps", "photo MB",
                  "passive Mbps", "err %", "over s", "or not used because"]


def passive_table(cells: list[Cell], photo_mb: float) -> list[str]:
    """A job's own photo upload and result download, read the way the app reads them."""
    lines = ["| " + " | ".join(PASSIVE_HEADER) + " |", "|" + "---|" * len(PASSIVE_HEADER)]
    for c in cells:
        got = c.passive
        row = [c.direction, f"{c.rate:g}", str(c.queue_ms), f"{c.truth:.2f}", f"{photo_mb:g}"]
        if isinstance(got, PassiveReading):
            row += [f"{got.mbps:.2f}", _fmt(_err(got.mbps, c.truth), "+.1f"),
                    f"{got.seconds:.1f}", ""]
        else:
            row += ["-", "-", "-", got.why if got else "no transfer seen"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def passive_target(cells: list[Cell]) -> str:
    ups = [c for c in cells if c.direction == "up" and c.passive is not None]
    read = [c for c in ups if isinstance(c.passive, PassiveReading)]
    within = sum(abs(_err(c.passive.mbps, c.truth) or 999) <= 5 for c in read
                 if isinstance(c.passive, PassiveReading))
    return (f"passive: photo uploads within 5% of the truth: {within}/{len(read)} read "
            f"({len(ups) - len(read)} not used: too short or app-limited) (target all)")


def targets(cells: list[Cell], policy: ProbePolicy, skipped: list[str]) -> list[str]:
    def runs(keep) -> list[tuple[Cell, Run]]:  # type: ignore[no-untyped-def]
        return [(c, r) for c in cells if keep(c) for r in c.runs]

    edge = runs(lambda c: c.rate in (4.5, 5.5))
    right = sum(r.verdict == policy.verdict_for(c.truth).value for c, r in edge)
    every = runs(lambda c: True)
    slowest = max((r.check_verdict_s for _, r in every), default=0.0)
    deep = runs(lambda c: 2 <= c.rate <= 20 and c.queue_ms >= 200)
    deep_ok = sum(abs(_err(r.mbps, c.truth) or 999) <= 5 for c, r in deep)
    mid = runs(lambda c: 2 <= c.rate <= 20)
    mid_ok = sum(abs(_err(r.mbps, c.truth) or 999) <= 5 for c, r in mid)
    fast = runs(lambda c: c.rate >= 40)
    fast_ok = sum(abs(_err(r.mbps, c.truth) or 999) <= 10 for c, r in fast)
    most = max((r.bytes for _, r in every), default=0)
    return [
        f"preflight: correct verdict at 4.5/5.5 Mbit/s: {right}/{len(edge)} (target all)",
        f"preflight: slowest verdict {slowest:.2f} s (target <= 3 s)",
        f"preflight: rate error <= 5% at 2-20 Mbit/s behind a >= 200 ms queue: "
        f"{deep_ok}/{len(deep)} (target all); any queue: {mid_ok}/{len(mid)}",
        f"preflight: rate error <= 10% at >= 40 Mbit/s: {fast_ok}/{len(fast)} (target all)",
        f"preflight: most bytes in one direction {most / 1e6:.2f} MB (cap 2 MB)",
        *filter(None, [versus_ndt7(cells)]), passive_target(cells), *skipped,
    ]


# -- running ---------------------------------------------------------------------------------------


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def _load() -> str:
    try:
        return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bandwidth_matrix", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="preflight runs per cell (default 3)")
    parser.add_argument("--rates", type=_floats, default=list(RATES), help="tbf rates, Mbit/s")
    parser.add_argument("--queues", type=_floats, default=list(QUEUES),
                        help="bottleneck queue (tbf latency), ms")
    parser.add_argument("--threshold", type=float, default=5.0, help="Mbps (default 5)")
    parser.add_argument("--photo-mb", type=float, default=2.0,
                        help="the passive column's photo size, MB (default 2)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason:
        print(f"bandwidth_matrix: skipped: {reason}")
        return 0
    no_iperf, no_ndt7 = iperf3_reason(), ndt7_reason()
    skipped = [r for r in (no_iperf and f"iperf3 skipped: {no_iperf}", no_ndt7) if r]
    policy = ProbePolicy(threshold_mbps=args.threshold)
    started = time.monotonic()
    load_before = _load()
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory() as tmp, NetLab(Path(tmp)) as lab:
        url = lab.start_cloud()
        ndt = None if no_ndt7 else Ndt7Server(SERVER_IP, netns=lab.server)
        try:
            for rate in args.rates:
                for queue in args.queues:
                    lab.shape(rate, int(queue))
                    row = {d: Cell(rate, int(queue), d, None if no_iperf else iperf3(
                        lab.client, lab.server, SERVER_IP, reverse=d == "down"))
                           for d in DIRS}
                    for d in DIRS if ndt else ():
                        assert ndt is not None
                        row[d].ndt7 = ndt7(ndt.address, reverse=d == "down",
                                           netns=lab.client)
                    for _ in range(args.runs):
                        for d, run in one_check(lab, url, policy).items():
                            row[d].runs.append(run)
                    job = functools.partial(photo_job, url, TOKEN, int(args.photo_mb * 1e6))
                    for d, reading in lab.in_client(job).items():
                        row[d].passive = reading
                    cells += row.values()
                    print(f"tbf {rate:g} Mbit/s, queue {queue:g} ms: truth up "
                          f"{row['up'].truth:.2f}, down {row['down'].truth:.2f} "
                          f"({time.monotonic() - started:.0f} s, {_load()})", file=sys.stderr,
                          flush=True)
        finally:
            if ndt is not None:
                ndt.close()
    cells.sort(key=lambda c: (c.direction != "up", c.rate, c.queue_ms))
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"Bandwidth preflight matrix, {when}; {machine()}",
           f"threshold {args.threshold:g} Mbps, {args.runs} preflight runs per cell, one 10 s "
           f"ndt7 and one 10 s iperf3 per cell and direction, "
           f"{time.monotonic() - started:.0f} s in all; "
           f"{load_before} at the start, {_load()} at the end", "",
           *table(cells, policy), "",
           f"A {args.photo_mb:g} MB photo job through the app's own transport, once per cell:",
           "", *passive_table(cells, args.photo_mb), "", *targets(cells, policy, skipped)]
    print("\n".join(out))
    if args.markdown:
        args.markdown.write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
