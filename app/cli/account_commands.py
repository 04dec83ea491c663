"""`status` and `refresh`: the cached balance, as a person or a booth script reads it."""

from __future__ import annotations

import argparse
import json

from app.adapters.store.jobs_repo import JobsRepo
from app.cli.failures import EXIT_OK, CommandFailed
from app.core.conditions import Assessment, Condition, assess, link_line
from app.core.errors import MonitorError
from app.core.jobs import JobState
from app.core.status import StatusView, clock_note
from app.orchestration.guard_path import GuardPath, request_counts, trap_json
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
        # The empty view of a profile with no cloud is most likely a forgotten --cloud or
        # --demo: say so (main adds the --demo hint when this home has demo data).
        runtime.check_configured()
        return EXIT_OK
    finally:
        runtime.close()


def run_refresh(args: argparse.Namespace, options: Options) -> int:
    runtime = Runtime(options)
    try:
        try:
            error = runtime.refresh().error
        except MonitorError as raised:  # nothing configured, no token, a locked keyring
            error = raised
        print_status(runtime, as_json=args.json)  # the cached view, whatever happened
        if error is not None:
            failed = CommandFailed.from_error(error, "Could not refresh")
            failed.todo = f"{error.hint} The balance shown is the cached copy.".strip()
            raise failed
        return EXIT_OK
    finally:
        runtime.close()


def print_status(runtime: Runtime, *, as_json: bool) -> None:
    """The cached balance, the one assessment every surface shows, the queue and the refund
    counts: all from the local store (and, in demo mode, the demo cloud's address file)."""
    now = utc_now()
    view = runtime.view()
    counts = JobsRepo(runtime.db).counts()
    link = runtime.probe_history().latest_probe()
    guard = GuardPath(runtime)  # the cached account's traps: no network
    traps = guard.traps()
    # With the requests, as the tray does: a trap's line says how far support is.
    found = assess(view, now, link=link, queue=counts,
                   threshold_mbps=float(runtime.settings.preflight_threshold_mbps),
                   traps=traps, requests=guard.requests())
    refunds = refund_counts(runtime)
    requests = request_counts(runtime)
    ahead = runtime.forecast(view, now)
    if as_json:
        print(json.dumps({**view.to_json(), "cloud_url": view.cloud_url or None,
                          "demo": runtime.options.demo, **found.to_json(),
                          "forecast": ahead.to_json() if ahead else None,
                          "queue": counts.to_json(), "refunds": refunds,
                          "requests": requests, "traps": [trap_json(t) for t in traps]},
                         indent=2))
        return
    print_view(view, found, demo=runtime.options.demo)
    if ahead is not None and ahead.text(now):
        print(f"Lasts    {ahead.text(now)}")
    print(f"Link     {link_line(link, view, now)}")
    held = counts.count(JobState.HELD)
    print(f"Queue    {counts.open} open ({held} held for a slow link), "
          f"{counts.count(JobState.SUCCEEDED)} done, "
          f"{counts.count(JobState.FAILED, JobState.GIVEN_UP)} failed"
          + (f"; PAUSED: {counts.pause.message}" if counts.pause else ""))
    print(f"Refunds  {refunds['summary']}")
    for trap in traps:
        print(f"Account  {trap.title}: {trap.message}")
    if requests["requests"]:
        by = ", ".join(f"{n} {s}" for s, n in dict(requests["by_status"]).items() if n)
        count = requests["requests"]
        print(f"Support  {count} request{'s' if count != 1 else ''} ({by}); `claims` lists them")


def print_view(view: StatusView, found: Assessment, *, demo: bool = False) -> None:
    acct = view.account
    print(f"Balance  {found.balance}  {found.age}")
    if acct:
        print(f"Account  {acct.email} ({acct.plan.value}, {acct.status.value})")
        for value in acct.unrecognised:
            print(f"         {value} (not known to this version; the rest is up to date)")
    cloud = view.cloud_url or ("demo cloud, not running (a --demo command starts one)" if demo
                               else "(not set)")
    print(f"Cloud    {cloud}")
    print(f"State    {found.words()}")
    note = clock_note(view)
    if note:
        print(f"Clock    {note}")
    if view.ledger_behind:
        print("History  the cloud's usage history is behind its balance (entries not listed "
              "yet); the next refresh fills it in")
    for finding in found.findings:
        if finding.condition is not Condition.CURRENT:
            print(f"         {finding.line}")
