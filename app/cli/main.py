"""`booth-credit-monitor [options] [command]`: no command starts the tray app.

Each command lives in a small module with `register(subparsers, common)`. How a run ends is
decided here, once: a command that could not do what was asked ends with exactly one line on
stderr and a non-zero exit status (app.cli.failures lists them), never a traceback; a reader
that goes away (`queue | head -3`) ends the run quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import NoReturn

from app import APP_NAME, __version__
from app.cli import (
    account_commands,
    alert_commands,
    claims_commands,
    diagnostics_commands,
    fleet_commands,
    job_commands,
    preflight_commands,
    quit_commands,
    refund_commands,
    self_test_commands,
    summary_commands,
)
from app.cli.failures import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PIPE_CLOSED,
    EXIT_USAGE,
    CommandFailed,
    exit_code_help,
    one_line,
)
from app.core.errors import MonitorError
from app.democloud import cli as democloud_cli
from app.runtime import Options, paths_for, start_logging

log = logging.getLogger(__name__)

# Modules that add subcommands; each exposes register(subparsers, common).
COMMAND_MODULES = [account_commands, democloud_cli, preflight_commands, job_commands,
                   refund_commands, claims_commands, summary_commands, diagnostics_commands,
                   self_test_commands, quit_commands, alert_commands, fleet_commands]

EPILOG = exit_code_help()


class Parser(argparse.ArgumentParser):
    """argparse, except that a wrong command line is one line on stderr like every failure
    (argparse prints the whole usage block first). Subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, one_line(message, f"`{self.prog} --help` lists the options")
                  + "\n")


def common_options() -> argparse.ArgumentParser:
    """Options every command accepts, before or after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS,
                        help="keep config, data, cache and logs under DIR "
                        "(or set BOOTH_MONITOR_HOME)")
    common.add_argument("--cloud", metavar="URL", dest="cloud_url", default=argparse.SUPPRESS,
                        help="the cloud's base URL (or set BOOTH_MONITOR_CLOUD_URL)")
    common.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                        help="use the demo cloud: the running tray app's, else one started "
                        "for this command (state kept in the demo data folder)")
    common.add_argument("--demo-job-failure-rate", type=float, metavar="F",
                        default=argparse.SUPPRESS,
                        help="with --demo: fraction of AI jobs that fail after being charged "
                        "(for a demo cloud this process starts)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log debug details, also to stderr")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = Parser(
        prog=APP_NAME, parents=[common], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Watches a photo booth's AI credits: cached balance, bandwidth preflight, "
        "durable job queue and automatic refund claims. Without a command it starts the tray app.",
    )
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub, common)
    for command in sub.choices.values():  # every `COMMAND --help` lists the codes too
        command.epilog = command.epilog or EPILOG
        command.formatter_class = argparse.RawDescriptionHelpFormatter
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
    options: Options | None = None
    try:
        try:
            args = build_parser().parse_args(argv)
            options = options_from(args)
            if args.command is None:
                from app.gui.main import run_gui  # Qt is imported only for the tray app

                code = run_gui(options)
            else:
                code = int(args.func(args, options))
            sys.stdout.flush()  # buffered output meets a closed pipe here, not at exit
            return code
        except CommandFailed as failure:
            return _fail(failure, options)
        except MonitorError as error:
            return _fail(CommandFailed.from_error(error), options)
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
    except OSError as error:
        if _is_closed_pipe(error):
            return _pipe_closed()
        return _unexpected(error, options)
    except Exception as error:  # a bug: the traceback goes to the log, not the operator
        return _unexpected(error, options)


def _fail(failure: CommandFailed, options: Options | None) -> int:
    sys.stdout.flush()  # the output before the line; a closed pipe wins over the line
    line = failure.line()
    if failure.not_configured and options is not None:
        line += demo_hint(options)
    _say(line)
    return failure.code


def demo_hint(options: Options) -> str:
    """Nothing is set up for a real cloud, but this home has demo data: --demo was forgotten."""
    if options.demo or not paths_for(replace(options, demo=True)).store_file.exists():
        return ""
    return " This home has demo data: add --demo to use it."


def _is_closed_pipe(error: OSError) -> bool:
    # Windows reports a write to a pipe whose reader left as EINVAL rather than EPIPE.
    return isinstance(error, BrokenPipeError) or (
        os.name == "nt" and error.errno == errno.EINVAL)


def _pipe_closed() -> int:
    """The reader has all it wanted (`| head -3`): exit without a word, like cat or git. Point
    stdout at the null device so the interpreter's final flush cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_PIPE_CLOSED


def _unexpected(error: BaseException, options: Options | None) -> int:
    where = "the log"
    try:
        if options is not None:
            start_logging(options)
            where = str(paths_for(options).log_file)
        log.error("unexpected error", exc_info=error)
    except Exception:  # the one line below must still be said
        log.debug("could not log the unexpected error", exc_info=True)
    try:
        sys.stdout.flush()
    except OSError as again:
        if _is_closed_pipe(again):
            return _pipe_closed()
    _say(one_line(f"an unexpected error stopped the command ({type(error).__name__})",
                  f"The details are in {where}; please report it"))
    return EXIT_FAILED


def _say(line: str) -> None:
    # When stderr is gone too, the exit status is all that is left to say it.
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)
