"""Rotating log file in the platform log folder; secrets are scrubbed before a line is written."""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path
from typing import Any

from app.adapters.system.durable import make_private, open_private

_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_known_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Any log line that would contain this value gets it replaced (defence in depth: nothing
    should log a secret in the first place)."""
    if value and len(value) >= 4:
        _known_secrets.add(value)


def scrub(text: str) -> str:
    text = _BEARER.sub(r"\1***", text)
    for secret in _known_secrets:
        text = text.replace(secret, "***")
    return text


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        return True


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """The log names hosts, photos and accounts: each file is created 0600 from its first byte
    (rotation renames, so the mode carries over). On Windows the per-user profile's ACL is what
    protects it; os.open's mode is ignored there."""

    def _open(self) -> Any:
        path = Path(self.baseFilename)
        stream = open_private(path, self.mode, encoding=self.encoding)
        make_private(path)  # a log left 0644 by an older version
        return stream


def setup_logging(log_file: Path, *, verbose: bool = False) -> None:
    root = logging.getLogger()
    if getattr(root, "_booth_configured", False):
        return
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = _PrivateRotatingFileHandler(
        log_file, maxBytes=1_000_000, backupCount=5, encoding="utf-8", delay=True
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_ScrubFilter())
    root.addHandler(handler)
    if verbose:
        console = logging.StreamHandler()
        console.addFilter(_ScrubFilter())
        root.addHandler(console)
    # httpx logs every request URL at INFO; keep the log about the booth, not the transport.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    root._booth_configured = True  # type: ignore[attr-defined]
