"""`fleet`: every booth of the account, as the broker holds their newest states.

    fleet [--json] [--wait S]   connect to the broker in Settings, read the retained states
                                (up to S seconds, 5 by default; it returns as soon as they have
                                stopped arriving) and print one row per booth, the shared
                                balance once and the fleet's pace

It connects as a viewer of its own (a client id of its own, a clean session, no last will), so
it never takes the tray app's session or marks this booth offline. Exit status 1 when no broker
is set or it cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import time

from app.cli.failures import EXIT_OK, CommandFailed
from app.core.fleet import FleetView
from app.core.fleet_text import COLUMNS, balance_line, pace_line, row_cells, summary_line
from app.core.forecast import default_event_end
from app.orchestration.fleet_path import FleetPath, FleetStatus, fleet_config
from app.runtime import Options, Runtime, utc_now

# Retained messages come right after the subscription; this long without one means we have
# them all.
QUIET_SECONDS = 0.5


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("fleet", parents=[common],
                         help="every booth of the account, from the MQTT broker")
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.add_argument("--wait", type=float, default=5.0, metavar="S",
                     help="wait up to S seconds for the booths' states (default 5)")
    cmd.set_defaults(func=run_fleet)


def run_fleet(args: argparse.Namespace, options: Options) -> int:
    runtime = Runtime(options)
    try:
        config = fleet_config(runtime, viewer_only=True)
        if config is None:
            failed = CommandFailed("No MQTT broker is set for the fleet view",
                                   "Set one in Settings (Fleet), or mqtt_host in the settings "
                                   "file; docs/fleet.md says how")
            raise failed
        end = default_event_end(utc_now(), str(runtime.settings.event_ends_at)) \
            if ":" in str(runtime.settings.event_ends_at) else None
    finally:
        runtime.close()
    path = FleetPath(None, config, None)
    path.start()
    try:
        heard = _wait(path, max(0.0, float(args.wait)))
        status = path.status()
    finally:
        path.stop()
    if not heard:
        raise CommandFailed(f"Could not reach the fleet broker {status.broker}"
                            + (f" ({status.last_error})" if status.last_error else ""),
                            "Check the broker address, the network and the user name in "
                            "Settings (Fleet)")
    view = path.view(event_end=end)
    if args.json:
        print(json.dumps({**view.to_json(), "broker": status.broker}, indent=2))
    else:
        _print(view, status)
    return EXIT_OK


def _wait(path: FleetPath, seconds: float) -> bool:
    """True once connected and the retained states have stopped coming (or S is up)."""
    deadline = time.monotonic() + seconds
    if not path.subscribed.wait(seconds):
        return False
    since = time.monotonic()
    while time.monotonic() < deadline:
        last = path.last_message_at or since
        if time.monotonic() - max(last, since) >= QUIET_SECONDS:
            break
        time.sleep(0.05)
    return True


def _print(view: FleetView, status: FleetStatus) -> None:
    now = utc_now()
    print(f"Fleet    {view.account} via {status.broker}: {summary_line(view)}")
    print(balance_line(view, now))
    print(pace_line(view, now))
    if not view.rows:
        print("No booth of this account has published yet.")
        return
    cells = [list(COLUMNS)] + [row_cells(r, now) for r in view.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    for row in cells:
        print("  ".join(c.ljust(w) if i < 4 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip())
    for event in view.events[:5]:
        print(f"  {event.booth}: {event.text}")
