"""Every command against every way a booth's day goes wrong: the exit code, exactly one line on
stderr when it could not do what was asked (none when it could), and never a traceback.

Each cell is a real `python -m app` process in its own home, talking to the real demo cloud on
loopback, which is made to misbehave through its control endpoints:

    offline     every /v1 request has its connection dropped (outage mode "drop")
    bad_token   the token is revoked (401 token_expired)
    no_credits  other booths spent the shared balance (402 insufficient_credits)
    no_token    a cloud URL but no API token
    nothing     no cloud URL and no token: a new machine
    closed_pipe all is well, but the reader of stdout has gone away (`| head`)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.support import TOKEN, demo, drain_credits, photo, run, run_with_closed_stdout

CONDITIONS = ("offline", "bad_token", "no_credits", "no_token", "nothing")

# command -> its arguments; "{photo}", "{job}" and "{csv}" are filled in per test
COMMANDS: dict[str, tuple[str, ...]] = {
    "status": ("status",),
    "status-json": ("status", "--json"),
    "refresh": ("refresh",),
    "preflight": ("preflight",),
    "submit": ("submit", "{photo}", "--feature", "draw_me", "--offline-wait", "0"),
    "queue": ("queue",),
    "replay": ("replay", "--offline-wait", "0"),
    "retry": ("retry", "{job}"),
    "remove": ("remove", "{job}"),
    "send-anyway": ("send-anyway", "{job}"),
    "trigger-token": ("trigger-token",),
    "refunds": ("refunds",),
    "refunds-file-now": ("refunds", "--file-now"),
    "refunds-export": ("refunds", "export", "--csv", "{csv}"),
    "smtp-password": ("refunds", "smtp-password", "--stdin"),
    "summary": ("summary",),
}
NEEDS_A_QUEUED_JOB = {"replay", "retry", "remove", "send-anyway"}

# The words the one line must contain, per condition.
WHY = {
    "offline": ("broke off", "cannot connect", "did not answer", "cannot be reached"),
    "bad_token": ("token",),
    "no_credits": ("credits",),
    "no_token": ("no api token",),
    "nothing": ("no cloud url",),
}

def row(*codes: int) -> dict[str, int]:
    return dict(zip(CONDITIONS, codes, strict=True))


# Expected exit codes: 0 with nothing on stderr; anything else with exactly one line.
# Reads of the local store never touch the network, so only "nothing" (no cloud at all) fails
# them; submit and replay keep the photo queued (3) whatever stops them.
EXPECTED: dict[str, dict[str, int]] = {
    #                   offline, bad_token, no_credits, no_token, nothing
    "status":           row(0, 0, 0, 0, 1),
    "status-json":      row(0, 0, 0, 0, 1),
    "refresh":          row(1, 1, 0, 1, 1),
    "preflight":        row(1, 1, 0, 1, 1),
    "submit":           row(3, 3, 3, 3, 3),
    "queue":            row(0, 0, 0, 0, 1),
    "replay":           row(3, 3, 3, 3, 3),
    "retry":            row(0, 0, 0, 0, 0),
    "remove":           row(0, 0, 0, 0, 0),
    # the queued job is not held for a slow link: there is nothing to send anyway
    "send-anyway":      row(1, 1, 1, 1, 1),
    "trigger-token":    row(0, 0, 0, 0, 0),
    "refunds":          row(0, 0, 0, 0, 1),
    "refunds-file-now": row(1, 1, 0, 1, 1),
    "refunds-export":   row(0, 0, 0, 0, 1),
    "smtp-password":    row(0, 0, 0, 0, 0),
    "summary":          row(0, 0, 0, 0, 1),
}
# Why a failing cell fails, when not for the condition itself.
OWN_REASON = {"send-anyway": ("nothing to send anyway",)}


def _prepare(home: Path, tmp_path: Path, condition: str, url: str) -> tuple[list[str], dict]:
    """The options and environment of the condition, with the cloud made to misbehave."""
    options = [] if condition == "nothing" else ["--cloud", url]
    env = {} if condition in ("no_token", "nothing") else {"BOOTH_MONITOR_TOKEN": TOKEN}
    if condition == "offline":
        demo(url, "outage", {"mode": "drop", "seconds": 0})
    elif condition == "bad_token":
        demo(url, "revoke-token")
    elif condition == "no_credits":
        drain_credits(url)
    return options, env


def _args(command: str, home: Path, tmp_path: Path, options: list[str], env: dict
          ) -> list[str]:
    job = ""
    if command in NEEDS_A_QUEUED_JOB:
        # Queued durably without a word to the cloud, as a hot folder would have done.
        queued = run(home, *options, "submit", str(photo(tmp_path, "queued.png", 12)),
                     "--feature", "draw_me", "--no-wait", "--json", env=env)
        assert queued.code == 0, queued
        job = queued.json()["job"]["id"]
    fill = {"{photo}": str(photo(tmp_path, "guest.png")), "{job}": job,
            "{csv}": str(tmp_path / "claims.csv")}
    return [*options, *(fill.get(a, a) for a in COMMANDS[command])]


@pytest.mark.parametrize("condition", CONDITIONS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_under_condition(command, condition, home, tmp_path, demo_cloud):
    options, env = _prepare(home, tmp_path, condition, demo_cloud.url)
    args = _args(command, home, tmp_path, options, env)
    stdin = "hunter2-smtp\n" if command == "smtp-password" else None

    result = run(home, *args, env=env, stdin=stdin)

    expected = EXPECTED[command][condition]
    assert result.code == expected, (command, condition, result)
    assert "Traceback" not in result.stderr + result.stdout
    assert TOKEN not in result.stderr, "the token never appears in a message"
    if expected == 0:
        assert result.err_lines == [], result.stderr
        return
    line = result.one_line().lower()
    words = OWN_REASON.get(command, WHY[condition])
    assert any(w in line for w in words), (command, condition, line)


@pytest.mark.parametrize("command", [*COMMANDS, "demo-cloud"])
def test_command_whose_reader_went_away(command, home, tmp_path, demo_cloud):
    """All is well, but nobody reads stdout any more: the command ends quietly, 141 like a
    program a shell's closed pipe stopped, with no traceback and no 'Exception ignored'."""
    env = {"BOOTH_MONITOR_TOKEN": TOKEN}
    if command == "demo-cloud":
        args = ["demo-cloud", "--port", "0", "--db", str(tmp_path / "own-cloud.sqlite3")]
    else:
        args = _args(command, home, tmp_path, ["--cloud", demo_cloud.url], env)
    stdin = "hunter2-smtp\n" if command == "smtp-password" else None

    result = run_with_closed_stdout(home, *args, env=env, stdin=stdin)

    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    if command == "send-anyway":  # prints nothing on stdout: its failure line is all it says
        assert result.code == 1 and "nothing to send anyway" in result.one_line().lower()
        return
    assert result.code == 141, (command, result)
    assert result.err_lines == [], result.stderr


def test_queue_piped_into_head_stops_cleanly(home, tmp_path, demo_cloud):
    """`queue | head -3` over a queue longer than a pipe's buffer: the reader takes a few
    bytes and leaves while `queue` is still writing."""
    from app.orchestration.job_path import JobPath
    from app.runtime import Options, Runtime

    runtime = Runtime(Options(home=str(home), cloud_url=demo_cloud.url))
    path = JobPath(runtime)
    try:
        for n in range(700):  # ~170 bytes a row: well past a 64 KiB pipe buffer
            path.intake.submit(photo(tmp_path / "in", f"guest-{n:03d}.png", 8 + n % 40,
                                     8 + n // 40), "draw_me", "cli")
    finally:
        path.close()
        runtime.close()

    result = run_with_closed_stdout(home, "--cloud", demo_cloud.url, "queue", "--limit", "1000",
                                    read_first=200)

    assert result.stdout.startswith("Queue    700 open")
    assert result.code == 141, result
    assert result.err_lines == [], result.stderr


def test_a_wrong_command_line_is_one_line_too(home):
    result = run(home, "submit", "--feature", "draw_me")
    assert result.code == 2
    assert "PATH" in result.one_line() and "--help" in result.one_line()
