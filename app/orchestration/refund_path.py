"""Refund claims assembled from a Runtime: the outbox, the relay, the channels Settings choose.

The command line and the tray app's worker both build it here. It uses the runtime's store
connection (the cycle runs on the thread that owns the runtime) and the runtime's cloud client,
so a token or URL changed in Settings is picked up by the next filing.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import replace
from datetime import datetime, timedelta

from app.adapters.cloud.refunds import CloudRefunds
from app.adapters.mail.smtp import SmtpConfig, SmtpSender
from app.adapters.store.job_outcomes import QueueJobRecords
from app.adapters.store.refunds_repo import RefundsRepo
from app.adapters.system.logs import register_secret
from app.adapters.system.settings_file import Settings
from app.core.refund_filing import Identity, RefundPolicy, channels_from_setting
from app.core.refunds import Claim, RefundSummary, summarize
from app.orchestration.refund_relay import CycleReport, FilingConfig, RefundRelay
from app.runtime import Runtime, utc_now

log = logging.getLogger(__name__)

SMTP_PASSWORD_ENV = "BOOTH_MONITOR_SMTP_PASSWORD"  # headless booths, like BOOTH_MONITOR_TOKEN
# The default in Settings only shows where the vendor's support address goes; it is not one.
PLACEHOLDER_SUPPORT = "support@vendor.example"


def smtp_secret_name(settings: Settings) -> str:
    return f"smtp:{settings.smtp_username}@{settings.smtp_host}"


def smtp_config(settings: Settings) -> SmtpConfig:
    return SmtpConfig(
        host=str(settings.smtp_host).strip(), port=_int(settings.smtp_port, 587),
        security=str(settings.smtp_security).strip().lower() or "starttls",
        username=str(settings.smtp_username).strip(), sender=sender_address(settings),
        ca_file=str(settings.smtp_ca_file).strip(),
    )


def sender_address(settings: Settings, account_email: str = "") -> str:
    explicit = str(settings.smtp_from).strip()
    user = str(settings.smtp_username).strip()
    return explicit or (user if "@" in user else "") or account_email


def policy_for(settings: Settings) -> RefundPolicy:
    minutes = max(0, _int(settings.refund_email_delay_minutes, 30))
    return RefundPolicy(email_delay=timedelta(minutes=minutes))


def filing_config(runtime: Runtime) -> FilingConfig:
    s = runtime.settings
    account = str(s.account_email).strip()
    if not account:
        cached = runtime.cache.load_cache().account
        account = cached.email if cached else ""
    support = str(s.support_email).strip()
    return FilingConfig(
        channels=channels_from_setting(s.refund_channel),
        identity=Identity(account, runtime.booth_name),
        support_email="" if support.lower() == PLACEHOLDER_SUPPORT else support,
        sender=sender_address(s, account),
    )


class RefundPath:
    def __init__(self, runtime: Runtime, *, policy: RefundPolicy | None = None,
                 ssl_context: ssl.SSLContext | None = None, owner: str | None = None):
        self.runtime = runtime
        self.repo = RefundsRepo(runtime.db)
        self._ssl_context = ssl_context
        desk = CloudRefunds(runtime.cloud)
        self.relay = RefundRelay(
            self.repo, QueueJobRecords(runtime.db), runtime.cache.entries_since,
            desk=lambda: desk, mail=self._sender, clock=utc_now,
            policy=policy or policy_for(runtime.settings), owner=owner)

    def cycle(self, *, file_now: bool = False) -> CycleReport:
        """Detect, file what is due, follow up. Call after each balance sync (the ledger it
        reads is the synced one)."""
        return self.relay.cycle(filing_config(self.runtime), file_now=file_now)

    def claims(self) -> list[Claim]:
        return self.repo.claims()

    def summary(self, since: datetime | None = None) -> RefundSummary:
        return summarize(self.repo.claims(), since)

    def settings_changed(self) -> None:
        """Channels waiting on the operator (password, address) try again at the next cycle."""
        self.repo.reset_channels()

    def mail_sender(self) -> SmtpSender:
        """The SMTP path every letter to support takes (refund claims, support requests)."""
        return self._sender()

    def _sender(self) -> SmtpSender:
        # The envelope sender is the letter's From, including its fallback to the account email.
        config = replace(smtp_config(self.runtime.settings),
                         sender=filing_config(self.runtime).sender)
        return SmtpSender(config, self._password, self._ssl_context)

    def _password(self) -> str | None:
        value = os.environ.get(SMTP_PASSWORD_ENV) or self.runtime.secrets.get(
            smtp_secret_name(self.runtime.settings)).value
        register_secret(value)
        return value


def set_smtp_password(runtime: Runtime, password: str) -> str:
    """Store the refund email password; returns where it went ("keyring" or the visible
    plain-text fallback, which Settings must say out loud)."""
    register_secret(password)
    return runtime.secrets.set(smtp_secret_name(runtime.settings), password)


def refund_counts(runtime: Runtime) -> dict[str, object]:
    """For `status --json` and the tray: claim counts and amounts, without any network."""
    repo = RefundsRepo(runtime.db)
    doc: dict[str, object] = summarize(repo.claims()).to_json()
    problems = {}
    for channel in channels_from_setting(runtime.settings.refund_channel):
        state = repo.channel_state(channel.value)
        if state.last_error:
            problems[channel.value] = {"kind": state.last_error_kind, "message": state.last_error,
                                       "waiting": repo.waiting(channel.value)}
    doc["problems"] = problems
    return doc


def _int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default
