"""Filing decisions: which channels, what a failure means, the cloud request, the notices.

The relay (app.orchestration.refund_relay) does the I/O; everything it decides comes from here,
so the rules can be read and tested without a network or a mail server.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.core.alerts import Alert
from app.core.backoff import Backoff
from app.core.errors import (
    AuthFailed,
    MonitorError,
    NotConfigured,
    RequestRejected,
    SecretStoreError,
)
from app.core.model import feature_label
from app.core.money import dollars
from app.core.refund_rules import RulePolicy
from app.core.refunds import Claim
from app.core.status import iso


@dataclass(frozen=True)
class RemoteRefund:
    """A refund request as the cloud holds it."""

    id: str
    status: str  # received | under_review | refunded | rejected
    amount_cents: int
    refund_entry_id: str | None = None
    resolution: str | None = None
    updated_at: datetime | None = None


class Channel(str, enum.Enum):
    CLOUD = "cloud"
    EMAIL = "email"


def channels_from_setting(value: object) -> tuple[Channel, ...]:
    """Settings `refund_channel`: "cloud", "email" or "both"; anything else means the cloud
    (a hand-edited typo must not silently stop filing)."""
    text = str(value).strip().lower()
    if text == "both":
        return (Channel.CLOUD, Channel.EMAIL)
    if text == "email":
        return (Channel.EMAIL,)
    return (Channel.CLOUD,)


@dataclass(frozen=True)
class RefundPolicy:
    rules: RulePolicy = field(default_factory=RulePolicy)
    # Jobs and usage history older than this are not looked at again.
    lookback: timedelta = timedelta(days=30)
    # Email waits until the oldest unsent claim is this old, then sends everything unsent in
    # one message: one mail per event or hour, not one per failed photo. `--file-now` skips it.
    email_delay: timedelta = timedelta(minutes=30)
    # Refund decisions take minutes to days: ask the cloud about a filed claim this often.
    follow_every: timedelta = timedelta(minutes=2)
    # A filing attempt (one HTTP request, or one SMTP session) holds its row this long; a
    # process killed mid-attempt leaves it to be taken again after that.
    lease: timedelta = timedelta(minutes=2)
    # Transient failures (offline, 5xx, mail server busy) retry with backoff ...
    retry: Backoff = field(default_factory=lambda: Backoff(base=15.0, cap=600.0, floor=5.0))
    # ... problems only the operator can fix (password, TLS, address) wait for a Settings
    # change, or this long: a wrong password retried every minute can lock the mail account.
    operator_recheck: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class Identity:
    """Who the request is from, as support needs it."""

    account_email: str
    booth_name: str = ""


# -- mail failures (raised by app.adapters.mail.smtp, decided on here) ---------------------------


class MailError(MonitorError):
    kind = "mail"
    maybe_sent = False


class MailUnreachable(MailError):
    kind = "offline"
    retryable = True


class MailTemporary(MailError):
    """A 4xx answer: the server asks us to come back later."""

    kind = "mail_busy"
    retryable = True


class MailTlsUnavailable(MailError):
    kind = "tls"


class MailCertificateRefused(MailTlsUnavailable):
    """The server offers TLS but its certificate does not verify: a different fix from a server
    with no encryption at all, so the operator is told a different thing."""

    kind = "tls_certificate"


class MailAuthFailed(MailError):
    kind = "auth"


class MailRefused(MailError):
    """A 5xx for the sender, a recipient or the message: retrying the same will not help."""

    kind = "mail_refused"


class MailMaybeSent(MailError):
    """The connection broke after the whole message went out and before the server's answer:
    it may have been accepted. It is sent again with the same Message-ID."""

    kind = "maybe_sent"
    retryable = True
    maybe_sent = True


@dataclass(frozen=True)
class FilingFailure:
    kind: str
    message: str
    retryable: bool  # the relay tries again by itself after a backoff
    claim_refused: bool = False  # this claim will never be accepted as it is
    retry_after: float | None = None


def classify(error: MonitorError) -> FilingFailure:
    text = str(error)
    if isinstance(error, MailError):
        return FilingFailure(error.kind, text, error.retryable)
    if isinstance(error, AuthFailed):
        return FilingFailure("auth", text, False)
    if isinstance(error, (NotConfigured, SecretStoreError)):
        return FilingFailure("config", text, False)
    if isinstance(error, RequestRejected):
        if error.status == 404:
            return FilingFailure("not_offered", "This cloud takes no refund requests.", False)
        if error.status == 409:
            # Our body never changes under one key (it is frozen at the first attempt), so a
            # conflict means the first attempt is still being processed: it will replay.
            return FilingFailure("in_progress", text, True, retry_after=1.0)
        if error.status in (400, 422):
            return FilingFailure("refused", text, False, claim_refused=True)
    return FilingFailure(getattr(error, "kind", "") or type(error).__name__.lower(), text,
                         error.retryable, retry_after=error.retry_after)


OPERATOR_HINTS = {
    "auth": "Check the user name and password for refund emails (or the cloud token) in "
    "Settings.",
    "tls": "The mail server offers no encryption. Use its TLS port, or another server.",
    "tls_certificate": "The mail server's certificate could not be verified: check the server "
    "name in Settings, or set smtp_ca_file in settings.json to its certificate authority's file.",
    "config": "Complete the refund settings (support address, mail server, account email).",
    "not_offered": "Choose email for refund requests in Settings.",
    "mail_refused": "Check the sender and support addresses in Settings.",
}


# -- the cloud's refund request ------------------------------------------------------------------


def cloud_request(claim: Claim, who: Identity) -> dict[str, Any]:
    """The body of POST /v1/refund-requests. It is stored at the first attempt and re-sent
    byte for byte: the cloud replays only an identical body under one key."""
    details = (f"Booth job {claim.job_id or '-'} (idempotency key {claim.job_key or '-'}), "
               f"cloud job {claim.cloud_job_id or '-'}: submitted {iso(claim.submitted_at)}, "
               f"charged {iso(claim.charged_at)}, failed {iso(claim.failed_at)}. "
               f"Error seen by the booth: {claim.error or 'none recorded'}. "
               f"Claim {claim.id} ({claim.rule.value}).")
    return {
        "ledger_entry_id": claim.ledger_entry_id, "job_id": claim.cloud_job_id,
        "feature": claim.feature, "amount_cents": claim.amount_cents,
        "charged_at": iso(claim.charged_at), "submitted_at": iso(claim.submitted_at),
        "failed_at": iso(claim.failed_at), "reason": claim.reason[:1000],
        "account_email": who.account_email[:254], "booth_name": who.booth_name[:100] or None,
        "details": details[:10_000],
    }


# -- what the operator is told -------------------------------------------------------------------


def filed_alert(claims: Sequence[Claim], channel: Channel, to: str = "") -> Alert:
    total = dollars(sum(c.amount_cents for c in claims))
    n = len(claims)
    how = f"by email to {to}" if channel is Channel.EMAIL else "with the cloud"
    return Alert(
        key=f"refund-filed:{channel.value}:{','.join(sorted(c.id for c in claims))}",
        title="Refund requested",
        message=f"{n} charged AI job{'s' if n != 1 else ''} without a result claimed back "
        f"({total}) {how}.",
        severity="info",
    )


def refunded_alert(claim: Claim) -> Alert:
    back = dollars(claim.refunded_cents or claim.amount_cents)
    return Alert(
        key=f"refund-refunded:{claim.id}",
        title="Credits refunded",
        message=f"{back} is back for {_job(claim)} charged at {local_text(claim.charged_at)}.",
        severity="info",
    )


def rejected_alert(claim: Claim) -> Alert:
    return Alert(
        key=f"refund-rejected:{claim.id}",
        title="Refund request rejected",
        message=f"{dollars(claim.amount_cents)} for {_job(claim)} charged at "
        f"{local_text(claim.charged_at)}: {claim.resolution or 'no reason given'}",
    )


def _job(claim: Claim) -> str:
    photo = f" ({claim.photo})" if claim.photo else ""
    return f"the {feature_label(claim.feature)} photo{photo}"


def local_text(moment: datetime) -> str:
    """What the operator reads: the PC's local time (letters and exports keep UTC)."""
    return moment.astimezone().strftime("%d %b %H:%M")


def problem_alert(channel: Channel, kind: str, message: str, waiting: int) -> Alert:
    """Keyed by channel and kind: shown once per episode (app.core.alerts.fresh_alerts)."""
    hint = OPERATOR_HINTS.get(kind, "It is retried on its own.")
    return Alert(
        key=f"refund-problem:{channel.value}:{kind}",
        title="Refund requests not sent" if channel is Channel.EMAIL
        else "Refund requests not filed",
        message=f"{waiting} claim{'s' if waiting != 1 else ''} waiting. {message} {hint}",
        severity="warning",
    )
