"""`alerts`: the phone alert outbox, and `alerts test`: one test alert to every stored URL.

    alerts [--json] [--limit N]   newest first: sent, late (sent late), waiting, dropped (and why),
                                  left (to the booth that sends the account's alerts)
    alerts test [--json]          send a test alert now to each stored URL, say how each went
    alerts set < urls.txt         store the URLs read from stdin (one or more per line), replacing
                                  the stored ones: for scripts that set up booths without a screen
    alerts clear                  forget the stored URLs

The URLs are never printed, and never taken on the command line (other users of the PC can read
command lines): each is named by its service and position ("ntfy address 1"). `alerts` makes no
network call; `alerts test` exits 1 when any URL failed or none is set.
"""

from __future__ import annotations

import argparse
import json
import sys

from app.cli.failures import EXIT_OK, EXIT_USAGE, CommandFailed
from app.core.alert_outbox import OutboxAlert
from app.core.errors import MonitorError
from app.orchestration.alert_path import AlertPath
from app.orchestration.alert_targets import save_targets, split_urls
from app.runtime import Options, Runtime


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("alerts", parents=[common],
                         help="phone alerts: the outbox (sent, late, waiting, dropped, left to "
                         "another booth), or test")
    cmd.add_argument("action", nargs="?", choices=["test", "set", "clear"],
                     help="test: send a test alert to every stored alert address now; set: "
                     "store the addresses read from stdin; clear: forget them")
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
        if args.action in ("set", "clear"):
            urls = split_urls(sys.stdin.read()) if args.action == "set" else []
            if args.action == "set" and not urls:
                raise CommandFailed("No alert address on stdin",
                                    "Pipe them in: alerts set < urls.txt (alerts clear forgets "
                                    "them)", code=EXIT_USAGE)
            where = save_targets(runtime, urls)
            path.settings_changed()
            labels = [t.label for t in path.targets()]
            print(f"Stored ({where}): {', '.join(labels)}" if labels else
                  "No phone alert address is stored now.")
            return EXIT_OK
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
        context = {"test": "Test alert not sent", "set": "Alert addresses not stored",
                   "clear": "Alert addresses not forgotten"}.get(
                       args.action or "", "Could not read the phone alerts")
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
