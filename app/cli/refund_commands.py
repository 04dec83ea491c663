"""`refunds`: the claims made for charged jobs that delivered nothing, and filing them now.

    refunds [--json]            list claims (no network)
    refunds --file-now [--json] sync the usage history, find new claims, file everything due now
                                (email too, without waiting to gather more), then list
    refunds export --csv PATH   write every claim to a CSV file
    refunds smtp-password       store the refund email password in the OS keyring

Exit status: 0; with --file-now, 3 when claims are left to file (they are filed later on their
own) and 1 when it could not look for new ones (the usage history did not sync); either way one
line on stderr says why and what to do.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from app.adapters.system.settings_file import write_atomic
from app.cli.failures import EXIT_FAILED, EXIT_OK, EXIT_STILL_QUEUED, EXIT_USAGE, CommandFailed
from app.core.errors import MonitorError
from app.core.model import feature_label
from app.core.money import dollars
from app.core.refund_letter import export_csv, utc_text
from app.core.refunds import Claim, ClaimStatus, claim_json
from app.orchestration.refund_path import RefundPath, refund_counts, set_smtp_password
from app.runtime import Options, Runtime

EXIT_UNFILED = EXIT_STILL_QUEUED  # the claims wait in the outbox, as photos wait in the queue


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
        problems: list[CommandFailed] = []
        if args.file_now:
            try:
                error = runtime.refresh().error
            except MonitorError as raised:  # nothing configured, no token
                error = raised
            if error is not None:
                problems.append(CommandFailed.from_error(
                    error, "Could not look for new claims"))
            report = path.cycle(file_now=True)
            problems += [CommandFailed(f"{a.title}: {a.message}") for a in report.problems]
        claims = path.claims()
        counts = refund_counts(runtime)
        if args.json:
            print(json.dumps({"claims": [claim_json(c) for c in claims], "totals": counts},
                             indent=2))
        else:
            print_claims(claims, str(counts["summary"]))
            for channel, problem in dict(counts["problems"]).items():  # type: ignore[call-overload]
                print(f"Problem  {channel}: {problem['message']}")
        if not args.file_now:
            runtime.check_configured()  # claims of a profile with no cloud: say so
            return EXIT_OK
        unfiled = sum(c.status is ClaimStatus.PENDING for c in claims)
        if problems or unfiled:
            raise _not_all_filed(problems, unfiled)
        return EXIT_OK
    finally:
        runtime.close()


def _not_all_filed(problems: list[CommandFailed], unfiled: int) -> CommandFailed:
    """One line for however many problems: the first says why, the count says there is more."""
    code = EXIT_UNFILED if unfiled else EXIT_FAILED
    if not problems:
        return CommandFailed(f"{unfiled} claim{'s are' if unfiled != 1 else ' is'} not filed yet",
                             "The tray app files it on its own; `refunds --file-now` tries "
                             "again now.", code=code)
    first = problems[0]
    more = len(problems) - 1
    todo = first.todo + (f" ({more} more problem{'s' if more != 1 else ''}: `refunds` lists "
                         "them.)" if more else "")
    failed = CommandFailed(first.what, todo.strip(), code=code)
    failed.not_configured = first.not_configured
    return failed


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
        runtime.check_configured()  # an empty file for a profile with no cloud helps nobody
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
        raise CommandFailed("No password given; nothing stored",
                            "Type it at the prompt, or pipe it in with --stdin.", code=EXIT_USAGE)
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
