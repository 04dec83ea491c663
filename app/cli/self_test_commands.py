"""`self-test [--out FILE]`: does this build have what it needs (app.gui.self_test)? Exit 0
when every check passes, 1 otherwise; the JSON says which."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli.failures import EXIT_FAILED, EXIT_OK


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("self-test", parents=[common],
                         help="check the Qt platform plugin, icons and style, SQLite WAL, the "
                         "TLS trust store and the keyring backend; print JSON")
    cmd.add_argument("--out", metavar="FILE", type=Path, default=None,
                     help="also write the JSON to FILE (the windowed Windows build has no "
                     "console)")
    cmd.set_defaults(func=run_self_test_command)


def run_self_test_command(args: argparse.Namespace, _options: object) -> int:
    from app.gui.self_test import run_self_test  # Qt only for this command

    ok, report = run_self_test(args.out.resolve() if args.out else None)
    print(json.dumps(report, indent=2))
    return EXIT_OK if ok else EXIT_FAILED
