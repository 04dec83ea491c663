"""`demo-cloud` as a command: one line with the URL (never the token), clean exit on Ctrl+C."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.democloud import cli

pytestmark = pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to a child process")


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.democloud",
            "--port",
            "0",
            "--token",
            "s3cret-token",
            "--db",
            str(tmp_path / "cli.sqlite3"),
            "--job-seconds",
            "0.1",
            *args,
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serves_until_ctrl_c_and_exits_zero(tmp_path: Path) -> None:
    process = _start(tmp_path)
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("demo cloud listening on http://127.0.0.1:")
        url = line.split()[-1]
        response = httpx.get(f"{url}/v1/balance", headers={"Authorization": "Bearer s3cret-token"})
        assert response.status_code == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "s3cret-token" not in line + out + err
    assert "Traceback" not in err
    assert (tmp_path / "cli.sqlite3").exists()


def test_non_loopback_bind_warns(tmp_path: Path) -> None:
    process = _start(tmp_path, "--host", "0.0.0.0")
    try:
        assert process.stdout and process.stdout.readline().startswith("demo cloud listening")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert "warning" in err.lower() and "0.0.0.0" in err
    assert "s3cret-token" not in err


def test_register_adds_the_subcommand_with_defaults() -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo-cloud"])
    assert args.func is cli.run
    assert (args.host, args.port, args.db, args.token) == ("127.0.0.1", 8765, None, "demo-token")
    assert (args.job_failure_rate, args.seed, args.job_seconds, args.refund_seconds) == (
        0.0,
        None,
        1.0,
        5.0,
    )
    args = parser.parse_args(["demo-cloud", "--job-failure-rate", "0.25", "--seed", "9"])
    assert (args.job_failure_rate, args.seed) == (0.25, 9)


def test_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        process = _start(tmp_path, "--port", port)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 1
    assert "could not start" in err and "Traceback" not in err
