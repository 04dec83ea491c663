"""Running the real command line as a booth script does: a subprocess (`python -m app`), real
files under the test's home, and the demo cloud over loopback, misbehaving on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.democloud.images import make_png

TOKEN = "demo-token"
PREFIX = "booth-credit-monitor: "


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def one_line(self) -> str:
        """The failure line, asserting there is exactly one and that it is well formed."""
        assert "Traceback" not in self.stderr, self.stderr
        assert len(self.err_lines) == 1, self
        line = self.err_lines[0]
        assert line.startswith(PREFIX), line
        return line

    def json(self) -> dict:
        return json.loads(self.stdout)


def environment(home: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    # The null keyring: a test never reads or writes a developer's real keyring; secrets the
    # CLI stores go to the plain-text fallback inside the test's home.
    return {**os.environ, "BOOTH_MONITOR_HOME": str(home),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", **(env or {})}


def run(home: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
        timeout: float = 120) -> Run:
    done = subprocess.run([sys.executable, "-m", "app", *args], env=environment(home, env),
                          input=stdin if stdin is not None else "", capture_output=True,
                          text=True, timeout=timeout)
    return Run(done.returncode, done.stdout, done.stderr)


def run_with_closed_stdout(home: Path, *args: str, env: dict[str, str] | None = None,
                           stdin: str | None = None, read_first: int = 0,
                           timeout: float = 120) -> Run:
    """stdout is a pipe whose reader goes away: after `read_first` bytes, or before the first
    (then every write fails: the child holds the only write end, nobody holds a read end)."""
    proc = subprocess.Popen([sys.executable, "-m", "app", *args], env=environment(home, env),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    got = b""
    while len(got) < read_first:
        chunk = proc.stdout.read1(read_first - len(got))  # type: ignore[attr-defined]
        if not chunk:
            break
        got += chunk
    proc.stdout.close()
    proc.stdin.write((stdin or "").encode())
    proc.stdin.close()
    try:
        err = proc.stderr.read()
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return Run(proc.returncode, got.decode(errors="replace"), err.decode(errors="replace"))


def photo(folder: Path, name: str, size: int = 10, height: int | None = None) -> Path:
    """A real PNG; photos of different sizes are different photos (not duplicates)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_png(size, height or size))
    return path


def demo(url: str, name: str, body: dict | None = None) -> dict:
    """A demo control endpoint (docs/cloud-api.md, appendix A)."""
    response = httpx.post(f"{url}/demo/scenarios/{name}", json=body or {},
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    response.raise_for_status()
    return response.json()


def demo_state(url: str) -> dict:
    response = httpx.get(f"{url}/demo/state", headers={"Authorization": f"Bearer {TOKEN}"},
                         timeout=10)
    response.raise_for_status()
    return response.json()


def drain_credits(url: str) -> int:
    """Other booths spend the shared balance until not even an SMS is left: every AI job is
    then answered 402 insufficient_credits."""
    demo(url, "other-booth-spend", {"feature": "draw_me", "count": 1000})
    demo(url, "other-booth-spend", {"feature": "sms", "count": 1000})
    left = demo_state(url)["balance_cents"]
    assert left < 25, left  # below the cheapest feature
    return left
