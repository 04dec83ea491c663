"""`status` and `refresh`: the cached balance, as a person or a booth script reads it."""

from __future__ import annotations

import argparse
import json
import sys

from app import APP_NAME
from app.core.conditions import Condition, assess
from app.core.status import StatusView
from app.orchestration.job_path import queue_counts
from app.orchestration.refund_path import refund_counts
from app.runtime import Options, Runtime, utc_now


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    status = sub.add_parser("status", parents=[common],
                            help="show the cached balance without touching the network")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(func=run_status)
    refresh = sub.add_parser("refresh", parents=[common],
                             help="sync with the cloud now, then show the balance")
    refresh.add_argument("--json", action="store_true", help="print one JSON object")
    refresh.set_defaults(func=run_refresh)


def run_status(args: argparse.Namespace, options: Options) -> int:
    runtime = Runtime(options)
    try:
        print_status(runtime, as_json=args.json)
        return 0
    finally:
        runtime.close()


def run_refresh(args: argparse.Namespace, options: Options) -> int:
    runtime = Runtime(options)
    try:
        outcome = runtime.refresh()
        print_status(runtime, as_json=args.json)
        if outcome.error is not None:
            print(f"{APP_NAME}: refresh failed: {outcome.error}", file=sys.stderr)
            return 1
        return 0
    finally:
        runtime.close()


def print_status(runtime: Runtime, *, as_json: bool) -> None:
    """The cached balance plus the queue and refund counts, all from the local store."""
    view = runtime.view()
    queue, refunds = queue_counts(runtime), refund_counts(runtime)
    if as_json:
        print(json.dumps({**view.to_json(), "queue": queue, "refunds": refunds}, indent=2))
        return
    print_view(view)
    paused = queue.get("paused")
    print(f"Queue    {queue['open']} open ({queue['held']} held for a slow link), "
          f"{queue['succeeded']} done, {queue['failed'] + queue['given_up']} failed"
          + (f"; PAUSED: {paused['message']}" if paused else ""))
    print(f"Refunds  {refunds['summary']}")


def print_view(view: StatusView) -> None:
    found = assess(view, utc_now())
    acct = view.account
    print(f"Balance  {found.balance}  {found.age}")
    if acct:
        print(f"Account  {acct.email} ({acct.plan.value}, {acct.status.value})")
    print(f"Cloud    {view.cloud_url or '(not set)'}")
    print(f"State    {found.words()}")
    for finding in found.findings:
        if finding.condition is not Condition.CURRENT:
            print(f"         {finding.line}")
