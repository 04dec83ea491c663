"""`demo-cloud`: run the demo cloud in the foreground until Ctrl+C."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.democloud.server import DemoCloud, is_loopback


def register(subparsers: Any, common: argparse.ArgumentParser | None = None) -> None:
    """Add the `demo-cloud` subcommand. `common` (parent options) is optional."""
    parser = subparsers.add_parser(
        "demo-cloud",
        parents=[common] if common is not None else [],
        help="run the demo cloud (a local stand-in for the vendor's cloud)",
        description="Serve the cloud contract (docs/cloud-api.md) on a SQLite ledger until "
        "Ctrl+C. State survives restarts on the same --db file.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port (default %(default)s)")
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        metavar="PATH",
        help="SQLite file holding the demo state (default ./demo-cloud.sqlite3)",
    )
    parser.add_argument("--token", default="demo-token", help="the API token clients must send")
    parser.add_argument(
        "--job-failure-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="fraction of AI jobs that fail after being charged (0..1)",
    )
    parser.add_argument("--seed", type=int, default=None, metavar="N", help="seed for failures")
    parser.add_argument("--job-seconds", type=float, default=1.0, metavar="S")
    parser.add_argument("--refund-seconds", type=float, default=5.0, metavar="S")
    # Failures are one line that starts with the program's name, like every other command's.
    parser.set_defaults(func=run, prog_name=parser.prog.rsplit(" ", 1)[0])


def run(args: argparse.Namespace, options: Any = None) -> int:
    """Serve until Ctrl+C. `options` is accepted (and unused) for the app CLI's calling style."""
    if not is_loopback(args.host):
        print(
            f"warning: binding {args.host} exposes the demo cloud (and its fixed token) "
            "to the network",
            file=sys.stderr,
        )
    cloud = DemoCloud(
        args.db if args.db is not None else Path.cwd() / "demo-cloud.sqlite3",
        host=args.host,
        port=args.port,
        token=args.token,
        job_failure_rate=args.job_failure_rate,
        seed=args.seed,
        job_seconds=args.job_seconds,
        refund_seconds=args.refund_seconds,
    )
    try:
        cloud.start()
    except OSError as exc:  # typically the port is taken: say so in one line, no traceback
        prog = getattr(args, "prog_name", "demo-cloud")
        print(f"{prog}: the demo cloud could not start on {args.host}:{args.port} "
              f"({exc.strerror or exc}). Pick another --port, or stop what uses that one.",
              file=sys.stderr)
        return 1
    try:
        print(f"demo cloud listening on {cloud.url}", flush=True)
        cloud.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        cloud.stop()
    return 0
