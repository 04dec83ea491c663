"""`quit [--wait SECONDS]`: ask the running tray app on this data folder to stop the way its
menu's Quit does (the queue handed back, the store closed), without asking anyone. The Windows
installer runs it before replacing files; killing the process is only its fallback. "Has quit"
means the process has ended (its files are free), not only that it let go of its socket."""

from __future__ import annotations

import argparse

from app.cli.failures import EXIT_FAILED, EXIT_OK
from app.runtime import Options


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("quit", parents=[common],
                         help="ask the running tray app (and its demo copy) on this data folder "
                         "to quit cleanly; exit 1 if one is still running after --wait")
    cmd.add_argument("--wait", metavar="SECONDS", type=float, default=15.0,
                     help="how long to wait for it to finish (default 15)")
    cmd.set_defaults(func=run_quit_command)


def run_quit_command(args: argparse.Namespace, options: Options) -> int:
    from PySide6.QtCore import QCoreApplication  # Qt's local socket: what the tray listens on

    from app.gui.single_instance import ask_running_copies_to_quit

    _app = QCoreApplication.instance() or QCoreApplication([])
    asked, left = ask_running_copies_to_quit(options, int(max(args.wait, 0) * 1000))
    if not asked:
        print("Booth Credit Monitor is not running.")
        return EXIT_OK
    if left:
        print(f"Booth Credit Monitor is still stopping after {args.wait:g} s.")
        return EXIT_FAILED
    print("Booth Credit Monitor has quit.")
    return EXIT_OK
