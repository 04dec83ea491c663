"""`refunds`: the claims made for charged jobs that delivered nothing, and filing them now.

    refunds [--json]            list claims (no network)
    refunds --file-now [--json] sync the usage history, find new claims, file everything due now
                                (email too, without waiting to gather more), then list
    refunds export --csv PATH   write every claim to a CSV file
    refunds smtp-password       store the refund email password in the OS keyring

Exit status: 0; 3 when --file-now left claims unfiled (offline, or a problem the message names).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from app import APP_NAME
from app.adapters.system.settings_file import write_atomic
from app.core.money import dollars
from app.core.refund_letter import export_csv, feature_label, utc_text
from app.core.refunds import Claim, ClaimStatus, claim_json
from app.orchestration.refund_path import RefundPath, refund_counts, set_smtp_password
from app.runtime import Options, Runtime

EXIT_OK, EXIT_UNFILED = 0, 3


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("refunds", parents=[common],
                         help="refund claims for charged AI jobs that delivered nothing")
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.add_argument("--file-now", action="store_true",
                     help="sync, find new claims and file everything due now")
    cmd.set_defaults(func=run_refunds)
    actions = cmd.add_subparsers(dest="refunds_action", metavar="ACTION")
    export = actions.add_parser("export", parents=[common], help="write the claims to CSV")
    export.add_argument("--csv", required=True, metavar="PATH", type=Path)
    export.set_defaults(func=run_export)
    password = actions.add_parser("smtp-password", parents=[common],
                                  help="store the password of the refund email account")
    password.add_argument("--stdin", action="store_true",
                          help="read it from standard input instead of prompting")
    password.set_defaults(func=run_password)


def run_refunds(args: argparse.Namespace, options: Options) -> int:
    runtime = Runtime(options)
    try:
        path = RefundPath(runtime)
        problems: list[str] = []
        if args.file_now:
            outcome = runtime.refresh()
            if not outcome.ok:
                problems.append(f"usage history not synced: {outcome.error}")
            report = path.cycle(file_now=True)
            problems += [f"{a.title}: {a.message}" for a in report.problems]
        claims = path.claims()
        counts = refund_counts(runtime)
        if args.json:
            print(json.dumps({"claims": [claim_json(c) for c in claims], "totals": counts},
                             indent=2))
        else:
            print_claims(claims, str(counts["summary"]))
            for channel, problem in dict(counts["problems"]).items():  # type: ignore[call-overload]
                print(f"Problem  {channel}: {problem['message']}")
        for line in problems:
            print(f"{APP_NAME}: {line}", file=sys.stderr)
        unfiled = any(c.status is ClaimStatus.PENDING for c in claims)
        return EXIT_UNFILED if args.file_now and unfiled else EXIT_OK
    finally:
        runtime.close()


def print_claims(claims: list[Claim], summary: str) -> None:
    if claims:
        print(f"{'Claim':<16} {'Status':<12} {'Feature':<18} {'Amount':>7}  "
              f"{'Charged (UTC)':<19}  Channel")
    for c in claims:
        print(f"{c.id:<16} {c.status.value:<12} {feature_label(c.feature):<18} "
              f"{dollars(c.amount_cents):>7}  {utc_text(c.charged_at):<19}  {c.channel or '-'}")
    print(summary)


def run_export(args: argparse.Namespace, options: Options) -> int:
    runtime = Runtime(options)
    try:
        claims = RefundPath(runtime).claims()
        write_atomic(args.csv, export_csv(claims).encode("utf-8"))
        print(f"Wrote {len(claims)} claim{'s' if len(claims) != 1 else ''} to {args.csv}")
        return EXIT_OK
    finally:
        runtime.close()


def run_password(args: argparse.Namespace, options: Options) -> int:
    secret = sys.stdin.readline().rstrip("\r\n") if args.stdin else getpass.getpass(
        "Refund email password: ")
    if not secret:
        print(f"{APP_NAME}: no password given; nothing stored", file=sys.stderr)
        return 2
    runtime = Runtime(options)
    try:
        where = set_smtp_password(runtime, secret)
        print("Stored in the OS keyring." if where == "keyring" else
              f"No OS keyring works here: stored in plain text in "
              f"{runtime.paths.fallback_secrets_file}.")
        RefundPath(runtime).settings_changed()
        return EXIT_OK
    finally:
        runtime.close()
