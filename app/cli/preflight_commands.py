"""`preflight`: is the link good enough for AI jobs right now? Measured, recorded, explained.

Exit 0 whenever it measured, whatever the verdict (a booth script reads the verdict from --json);
exit 1 with one line on stderr when it could not measure at all.
"""

from __future__ import annotations

import argparse
import json

from app.cli.failures import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed, lower_first
from app.core.bandwidth import PreflightResult, Verdict
from app.runtime import Options, Runtime, utc_now

EXIT_NOT_MEASURED = EXIT_FAILED

VERDICT_TEXT = {
    Verdict.OK: "good enough for AI jobs",
    Verdict.MARGINAL: "close to the limit: jobs may be slow",
    Verdict.SLOW: "too slow for AI jobs",
    Verdict.OFFLINE: "could not measure",
}


# How delivered bytes were counted, for a person; --json keeps the technical name.
METHOD_WORDS = {
    "tcp_info_acked": "counted as delivered, not just sent",
    "server_count": "counted by the cloud as received",
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("preflight", parents=[common],
                         help="measure upload and download speed to the cloud now")
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.add_argument("--threshold-mbps", type=float, metavar="X", default=None,
                     help="the rate AI jobs need (default: Settings, 5)")
    cmd.set_defaults(func=run_preflight)


def run_preflight(args: argparse.Namespace, options: Options) -> int:
    if args.threshold_mbps is not None and args.threshold_mbps <= 0:
        raise CommandFailed("--threshold-mbps must be above 0", "5 is what AI jobs need.",
                            code=EXIT_USAGE)
    runtime = Runtime(options)
    try:
        result = runtime.preflight(args.threshold_mbps).check(max_age_seconds=0)
        if args.json:
            print(json.dumps(result.to_json(), indent=2))
        else:
            print_result(result, runtime)
        if result.verdict is Verdict.OFFLINE:
            raise CommandFailed(f"Could not measure the link: "
                                f"{lower_first(result.reason or 'no reason given')}",
                                code=EXIT_NOT_MEASURED)
        return EXIT_OK
    finally:
        runtime.close()


def print_result(result: PreflightResult, runtime: Runtime) -> None:
    need = f"{result.threshold_mbps:g} Mbps"
    print(f"Upload    {_rate(result.upload_mbps)}  (AI jobs need {need})")
    print(f"Download  {_rate(result.download_mbps)}")
    print(f"Verdict   {result.verdict.value}: {VERDICT_TEXT[result.verdict]}")
    how = METHOD_WORDS.get(result.method, "")
    print(f"Spent     {_mb(result.bytes_up)} up, {_mb(result.bytes_down)} down "
          f"in {result.seconds:.1f} s" + (f" ({how})" if how else ""))
    today = runtime.probe_history().spent_today(utc_now())
    print(f"Today     {today.checks} check(s), {_mb(today.total_bytes)} in all")


def _rate(mbps: float | None) -> str:
    return "-" if mbps is None else f"{mbps:.1f} Mbps"


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:.1f} MB"
