"""`summary`: what an event came to (photos, spend by feature, refunds), from the local store.

    summary [--json] [--since T] [--csv PATH]

Without --since the event is the latest run of jobs (see app.core.event_summary). T is RFC 3339
(`2026-05-01T18:00:00Z`) or this PC's local time: `18:00` (today; yesterday when that is still
ahead, for a night past midnight) or `2026-05-01 18:00`.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from pathlib import Path

from app.adapters.system.settings_file import write_atomic
from app.cli.failures import EXIT_OK
from app.core.event_summary import summary_csv
from app.core.money import dollars
from app.core.status import clock_text
from app.orchestration.summary_path import event_summary
from app.runtime import Options, Runtime, utc_now


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("summary", parents=[common],
                         help="the event summary: photos, spend by feature, refunds (no network)")
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.add_argument("--since", type=since_time, metavar="T",
                     help="start of the event: RFC 3339, or local HH:MM or 'YYYY-MM-DD HH:MM' "
                     "(default: the latest run of jobs)")
    cmd.add_argument("--csv", type=Path, metavar="PATH", help="also write it as a CSV file")
    cmd.set_defaults(func=run_summary)


def since_time(text: str, now: datetime | None = None) -> datetime:
    """argparse type for --since: an aware UTC datetime."""
    now = now or utc_now()
    value = text.strip()
    try:
        if len(value) <= 5 and ":" in value:  # HH:MM, local, the latest one not ahead
            hour, minute = (int(part) for part in value.split(":"))
            local_now = now.astimezone()
            moment = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if moment > local_now:
                moment -= timedelta(days=1)
            return moment.astimezone(now.tzinfo)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since {text!r} is not a time: use RFC 3339 (2026-05-01T18:00:00Z), HH:MM or "
            "'YYYY-MM-DD HH:MM'") from None
    if moment.tzinfo is None:  # 'YYYY-MM-DD HH:MM' is this PC's local time
        moment = moment.astimezone()
    return moment.astimezone(now.tzinfo)


def run_summary(args: argparse.Namespace, options: Options) -> int:
    runtime = Runtime(options)
    try:
        summary = event_summary(runtime, since=args.since)
        if args.json:
            print(json.dumps(summary.to_json(), indent=2))
        else:
            now = utc_now()
            print(f"Event    {clock_text(summary.since, now)} to {clock_text(summary.until, now)}"
                  " (local time)")
            for line in summary.lines():
                print(f"         {line}")
            if summary.balance_cents is not None:
                as_of = (f" as of {clock_text(summary.balance_as_of, now)}"
                         if summary.balance_as_of else "")
                print(f"Balance  {dollars(summary.balance_cents)}{as_of}")
        runtime.check_configured()  # an empty summary of an unset profile: say so, write none
        if args.csv is not None:
            write_atomic(args.csv, summary_csv(summary).encode("utf-8"))
            if not args.json:
                print(f"Wrote    {args.csv}")
        return EXIT_OK
    finally:
        runtime.close()
