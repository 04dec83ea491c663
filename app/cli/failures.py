"""Exit codes and the one line on stderr that every command that could not do what was asked ends
with: `booth-credit-monitor: <what happened>. <what to do>`.

Commands print their normal output on stdout first (so `refresh` still shows the cached view),
then raise CommandFailed; app.cli.main prints the line, once, and returns its code. Booth
scripts branch on the code and show the line to a person.
"""

from __future__ import annotations

import textwrap

from app import APP_NAME
from app.core.errors import MonitorError, NotConfigured

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STILL_QUEUED = 3
EXIT_INTERRUPTED = 130
# What a shell reports for a program a closed pipe ended (128 + SIGPIPE), so `set -o pipefail`
# scripts see the same code as from cat or git; used on Windows too, for one meaning everywhere.
EXIT_PIPE_CLOSED = 141

EXIT_CODES = (
    (EXIT_OK, "done"),
    (EXIT_FAILED, "failed: could not do what was asked (cloud unreachable, token refused, not "
     "enough credits, nothing configured, a photo failed, disk full); the one line on stderr "
     "says why and what to do"),
    (EXIT_USAGE, "the command line was wrong"),
    (EXIT_STILL_QUEUED, "still queued: `submit` or `replay` kept the photos to send later "
     "(offline, paused for a token or credits, held for a slow link, --timeout), or `refunds "
     "--file-now` left claims to file; the one line on stderr says why"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl+C); queued photos stay queued"),
    (EXIT_PIPE_CLOSED, "the reader of the output went away (`| head`); nothing on stderr"),
)


def exit_code_help() -> str:
    """For `--help` (an argparse epilog kept as written) and the README."""
    width = max(len(str(code)) for code, _ in EXIT_CODES)
    indent = " " * (width + 4)
    return "exit status:\n" + "\n".join(
        textwrap.fill(text, 78, initial_indent=f"  {code:<{width}}  ", subsequent_indent=indent)
        for code, text in EXIT_CODES)


class CommandFailed(Exception):
    """Raised by a command after its stdout output: the one stderr line and the exit code."""

    def __init__(self, what: str, todo: str = "", *, code: int = EXIT_FAILED):
        super().__init__(what)
        self.what = what
        self.todo = todo
        self.code = code
        self.not_configured = False  # main adds the demo hint: maybe --demo was forgotten

    @classmethod
    def from_error(cls, error: MonitorError, context: str = "", *,
                   code: int = EXIT_FAILED) -> CommandFailed:
        """`context`: what could not be done ("could not refresh"), put before the cause."""
        what = f"{context}: {lower_first(error.message)}" if context else error.message
        failed = cls(what, error.hint, code=code)
        failed.not_configured = isinstance(error, NotConfigured)
        return failed

    def line(self) -> str:
        return one_line(self.what, self.todo)


def one_line(what: str, todo: str = "") -> str:
    """`booth-credit-monitor: What happened. What to do.`, never more than one line."""
    text = sentence(what) + (" " + sentence(todo) if todo.strip() else "")
    return f"{APP_NAME}: {' '.join(text.split())}"


def sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def lower_first(text: str) -> str:
    """'Cannot connect ...' reads on after a colon as 'cannot connect ...'; 'API token ...'
    keeps its capitals."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text
