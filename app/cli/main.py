"""`booth-credit-monitor [options] [command]`: no command starts the tray app.

Each command lives in a small module with `register(subparsers, common)`; expected failures
(app.core.errors.MonitorError) end as one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app import APP_NAME, __version__
from app.cli import account_commands, job_commands, preflight_commands, refund_commands
from app.core.errors import MonitorError
from app.democloud import cli as democloud_cli
from app.runtime import Options

# Modules that add subcommands; each exposes register(subparsers, common).
COMMAND_MODULES = [account_commands, democloud_cli, preflight_commands, job_commands,
                   refund_commands]

EXIT_FAILED = 1


def common_options() -> argparse.ArgumentParser:
    """Options every command accepts, before or after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS,
                        help="keep config, data, cache and logs under DIR "
                        "(or set BOOTH_MONITOR_HOME)")
    common.add_argument("--cloud", metavar="URL", dest="cloud_url", default=argparse.SUPPRESS,
                        help="the cloud's base URL (or set BOOTH_MONITOR_CLOUD_URL)")
    common.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                        help="use the embedded demo cloud (state kept in the data folder)")
    common.add_argument("--demo-job-failure-rate", type=float, metavar="F",
                        default=argparse.SUPPRESS,
                        help="with --demo: fraction of AI jobs that fail after being charged")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log debug details, also to stderr")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog=APP_NAME, parents=[common],
        description="Watches a photo booth's AI credits: cached balance, bandwidth preflight, "
        "durable job queue and automatic refund claims. Without a command it starts the tray app.",
    )
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub, common)
    return parser


def options_from(args: argparse.Namespace) -> Options:
    defaults = Options()
    return Options(
        home=getattr(args, "home", defaults.home),
        cloud_url=getattr(args, "cloud_url", defaults.cloud_url),
        demo=getattr(args, "demo", defaults.demo),
        demo_job_failure_rate=getattr(args, "demo_job_failure_rate",
                                      defaults.demo_job_failure_rate),
        verbose=getattr(args, "verbose", defaults.verbose),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command is None:
            from app.gui.main import run_gui  # Qt is imported only for the tray app

            return run_gui(options_from(args))
        return int(args.func(args, options_from(args)))
    except MonitorError as error:
        print(f"{APP_NAME}: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
