"""`diagnostics --out FILE.zip`: logs, settings without secrets, store statistics, recent
probes and versions, for whoever helps the operator (app.orchestration.diagnostics)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from app import APP_NAME
from app.cli.failures import EXIT_OK
from app.orchestration.diagnostics import write_diagnostics
from app.runtime import Options, Runtime


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("diagnostics", parents=[common],
                         help="save a zip for support: logs, settings without secrets, store "
                         "statistics, recent probes, versions")
    cmd.add_argument("--out", metavar="FILE.zip", type=Path, default=None,
                     help=f"where to save it (default: ./{APP_NAME}-diagnostics-TIME.zip)")
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.set_defaults(func=run_diagnostics)


def qt_version() -> str | None:
    try:
        from PySide6.QtCore import qVersion
    except ImportError:
        return None
    return str(qVersion())


def run_diagnostics(args: argparse.Namespace, options: Options) -> int:
    out = args.out or Path(f"{APP_NAME}-diagnostics-{datetime.now():%Y%m%d-%H%M%S}.zip")
    runtime = Runtime(options)
    try:
        saved = write_diagnostics(runtime, out.resolve(), qt_version=qt_version())
    finally:
        runtime.close()
    if args.json:
        print(json.dumps({"path": str(saved.path), "files": saved.files,
                          "bytes": saved.bytes}, indent=2))
    else:
        print(saved.line())
    return EXIT_OK
