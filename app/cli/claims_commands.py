"""`claims`: every request to support in one list (refund claims and the account guard's
requests), and `dispute`: the packet for a balance that does not add up.

    claims [--json]             list everything asked of support, with its state (no network)
    claims --file-now [--json]  sync, find new claims and traps, file everything due now, list
    dispute [--out DIR]         write the dispute packet: letter, usage entries (CSV), facts
                                (JSON). The command line has no screen, so no screenshot: the
                                tray app's packet (and its filed disputes) carry balance.png.

Exit status as `refunds`: with --file-now, 3 when requests are left to file, 1 when the account
could not be synced.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from app.cli.failures import EXIT_FAILED, EXIT_OK, EXIT_STILL_QUEUED, CommandFailed
from app.core.errors import MonitorError
from app.core.model import feature_label
from app.core.money import dollars
from app.core.refund_letter import utc_text
from app.core.refunds import Claim, ClaimStatus, claim_json
from app.core.support_requests import KIND_WORDS, RequestStatus, SupportRequest, request_json
from app.orchestration.guard_path import GuardPath, request_counts
from app.orchestration.refund_path import RefundPath, refund_counts
from app.runtime import Options, Runtime, utc_now


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("claims", parents=[common],
                         help="everything asked of support: refund claims and account requests")
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.add_argument("--file-now", action="store_true",
                     help="sync, find new claims and traps and file everything due now")
    cmd.set_defaults(func=run_claims)
    dispute = sub.add_parser("dispute", parents=[common],
                             help="write the packet for a balance that does not add up")
    dispute.add_argument("--out", metavar="DIR", type=Path, default=None,
                         help="folder for the packet (default: ./dispute-DATE)")
    dispute.add_argument("--json", action="store_true", help="print one JSON object")
    dispute.set_defaults(func=run_dispute)


def rows(claims: list[Claim], requests: list[SupportRequest]) -> list[dict[str, Any]]:
    """One list, oldest first: each item says which kind of request it is."""
    items = [({"type": "refund", **claim_json(c)}, c.created_at) for c in claims]
    items += [({"type": "support_request", **request_json(r)}, r.created_at) for r in requests]
    return [doc for doc, _ in sorted(items, key=lambda pair: pair[1])]


def run_claims(args: argparse.Namespace, options: Options) -> int:
    runtime = Runtime(options)
    try:
        refunds, guard = RefundPath(runtime), GuardPath(runtime)
        problems: list[CommandFailed] = []
        if args.file_now:
            try:
                error = runtime.refresh().error
            except MonitorError as raised:
                error = raised
            if error is not None:
                problems.append(CommandFailed.from_error(error, "Could not sync the account"))
            for report in (refunds.cycle(file_now=True), guard.cycle(file_now=True)):
                problems += [CommandFailed(f"{a.title}: {a.message}") for a in report.problems]
        claims, requests = refunds.claims(), guard.requests()
        totals = {"refunds": refund_counts(runtime), "requests": request_counts(runtime)}
        if args.json:
            print(json.dumps({"claims": rows(claims, requests), "totals": totals}, indent=2))
        else:
            print_rows(claims, requests)
            print(f"Refunds  {totals['refunds']['summary']}")
        if not args.file_now:
            runtime.check_configured()
            return EXIT_OK
        unfiled = sum(c.status is ClaimStatus.PENDING for c in claims) + sum(
            r.status is RequestStatus.PENDING for r in requests)
        if problems or unfiled:
            first = problems[0] if problems else CommandFailed(
                f"{unfiled} request{'s are' if unfiled != 1 else ' is'} not filed yet",
                "The tray app files it on its own; `claims --file-now` tries again now.")
            first.code = EXIT_STILL_QUEUED if unfiled else EXIT_FAILED
            raise first
        return EXIT_OK
    finally:
        runtime.close()


def print_rows(claims: list[Claim], requests: list[SupportRequest]) -> None:
    items: list[tuple[datetime, str]] = []
    for c in claims:
        items.append((c.created_at, f"{c.id:<16} {'Refund':<22} {c.status.value:<12} "
                      f"{dollars(c.amount_cents):>8}  {utc_text(c.charged_at):<19}  "
                      f"{feature_label(c.feature)}"))
    for r in requests:
        items.append((r.created_at, f"{r.id:<16} {KIND_WORDS.get(r.kind, r.kind):<22} "
                      f"{r.status.value:<12} {dollars(r.at_risk_cents):>8}  "
                      f"{utc_text(r.created_at):<19}  {r.title}"))
    if items:
        print(f"{'Id':<16} {'Kind':<22} {'Status':<12} {'Amount':>8}  {'When (UTC)':<19}  What")
    for _, line in sorted(items, key=lambda pair: pair[0]):
        print(line)


def run_dispute(args: argparse.Namespace, options: Options) -> int:
    runtime = Runtime(options)
    try:
        runtime.check_configured()
        guard = GuardPath(runtime)
        req = guard.dispute()
        if req is None:
            doc: dict[str, Any] = {"dispute": None, "files": [], "screenshot": False}
            print(json.dumps(doc, indent=2) if args.json else
                  "Nothing to dispute: the usage history explains the balance.")
            return EXIT_OK
        folder = args.out or Path(f"dispute-{utc_now().astimezone():%Y%m%d-%H%M}")
        written = guard.write_packet(req, folder)
        if args.json:
            print(json.dumps({"dispute": request_json(req), "files": [str(p) for p in written],
                              "screenshot": req.screenshot is not None}, indent=2))
            return EXIT_OK
        f = req.facts
        print(f"Dispute  expected {dollars(f['expected_cents'])}, the cloud shows "
              f"{dollars(f['actual_cents'])} ({req.status.value}, {req.id})")
        for path in written:
            print(f"Wrote    {path}")
        if req.screenshot is None:
            print("No screenshot: the command line has no screen. The tray app's window "
                  "saves the packet with balance.png.")
        return EXIT_OK
    finally:
        runtime.close()
