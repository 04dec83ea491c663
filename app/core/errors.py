"""Expected failures, each with a message an operator can act on.

Adapters convert every library exception (httpx, sqlite3, keyring, OSError) into one of these at the
edge, the way Maestral does, so the CLI and the tray only ever show these texts. A message never
contains a secret: adapters build it from status codes and problem codes, not from request data.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of expected failures. `message` is one line for the tray and stderr."""

    retryable: bool = False

    def __init__(self, message: str, *, hint: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class CloudUnreachable(MonitorError):
    """No answer from the cloud at all: no network, DNS, refused, reset, timeout."""

    retryable = True


class CaptivePortal(CloudUnreachable):
    """Something answered, but it is a Wi-Fi login page, not the cloud."""


class CloudUnavailable(MonitorError):
    """The cloud answered but cannot serve now (5xx, 503, 429)."""

    retryable = True


class AuthFailed(MonitorError):
    """The token is missing, wrong, revoked or expired: retrying will not help."""


class InsufficientCredits(MonitorError):
    """402: the shared balance cannot pay for this."""


class RequestRejected(MonitorError):
    """A permanent 4xx for this request (bad image, unknown feature, conflict)."""

    def __init__(self, message: str, *, code: str = "", status: int = 0, hint: str = ""):
        super().__init__(message, hint=hint)
        self.code = code
        self.status = status


class ProtocolError(MonitorError):
    """The cloud answered with something that is not the contract (malformed JSON, wrong shape)."""

    retryable = True


class StorageError(MonitorError):
    """The local store cannot be read or written (disk full, locked, damaged)."""


class SecretStoreError(MonitorError):
    """The OS keyring is locked or refused."""


class NotConfigured(MonitorError):
    """Something the operator must set first (cloud URL, token)."""


class AlertNotSent(MonitorError):
    """A phone alert service did not take the alert (unreachable, refused, timed out). The
    message names the service kind ("ntfy address 1"), never the URL: it holds a token."""

    retryable = True


class BadAlertAddress(MonitorError):
    """An Apprise URL that no Apprise service understands: retrying will not help."""
