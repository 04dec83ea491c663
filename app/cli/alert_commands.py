"""`alerts`: the phone alert outbox, and `alerts test`: one test alert to every stored URL.

    alerts [--json] [--limit N]   newest first: sent, late (sent late), waiting, dropped (and why)
    alerts test [--json]          send a test alert now to each stored URL, say how each went

The URLs are never printed: each is named by its service and position ("ntfy address 1").
`alerts` makes no network call; `alerts test` exits 1 when any URL failed or none is set.
"""

from __future__ import annotations

import argparse
import json

from app.cli.failures import EXIT_OK, CommandFailed
from app.core.alert_outbox import OutboxAlert
from app.core.errors import MonitorError
from app.orchestration.alert_path import AlertPath
from app.runtime import Options, Runtime


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("alerts", parents=[common],
                         help="phone alerts: the outbox (sent, late, waiting, dropped), or test")
    cmd.add_argument("action", nargs="?", choices=["test"],
                     help="test: send a test alert to every stored alert address now")
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.add_argument("--limit", type=int, default=50, metavar="N",
                     help="how many of the newest alerts to list (default 50)")
    cmd.set_defaults(func=run_alerts)


def run_alerts(args: argparse.Namespace, options: Options) -> int:
    runtime = Runtime(options)
    try:
        path = AlertPath(runtime)
        if args.action == "test":
            return _test(path, args.json)
        targets = [t.label for t in path.targets()]
        items = path.recent(max(1, args.limit))
        if args.json:
            print(json.dumps({"targets": targets, "waiting": path.repo.waiting_count(),
                              "alerts": [a.to_json() for a in items]}, indent=2))
            return EXIT_OK
        print(f"Phone alerts go to: {', '.join(targets)}" if targets else
              "No phone alert address is set: alerts show in the tray only "
              "(Settings → Phone alerts).")
        _print_rows(items)
        return EXIT_OK
    except MonitorError as error:
        context = "Test alert not sent" if args.action == "test" else \
            "Could not read the phone alerts"
        raise CommandFailed.from_error(error, context) from None
    finally:
        runtime.close()


def _test(path: AlertPath, as_json: bool) -> int:
    outcomes = path.send_test()  # NotConfigured when no URL is stored: main says so
    if as_json:
        print(json.dumps({"results": [{"target": o.label, "ok": o.ok, "message": o.message}
                                      for o in outcomes]}, indent=2))
    else:
        for o in outcomes:
            print(("sent    " if o.ok else "FAILED  ") + o.message)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise CommandFailed(f"{len(failed)} of {len(outcomes)} alert addresses did not take "
                            "the test alert", "Check them in Settings → Phone alerts")
    return EXIT_OK


def _print_rows(items: list[OutboxAlert]) -> None:
    if not items:
        print("No phone alerts yet.")
        return
    print(f"{'#':>5}  {'State':<8} {'Raised (local)':<15} {'Kind':<14} What")
    for a in items:
        note = a.reason or (a.last_error if a.state == "waiting" else "")
        print(f"{a.id:>5}  {a.shown_state:<8} {a.created_at.astimezone():%d %b %H:%M}    "
              f"{a.kind:<14} {a.title}" + (f" ({note})" if note else ""))
