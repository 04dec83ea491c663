"""The outbox's sender, shared by refund claims and support requests.

Items are committed before any filing; each filing is leased, sent, then recorded, so a crash
anywhere leaves a row that the next cycle sends again: to the cloud under the same
Idempotency-Key and body (the cloud keeps one request), by email as the same stored message
with the same Message-ID (at least once; see docs/refunds.md). Subclasses say what an item's
cloud request and letter are and what the cloud's answer means for it. No Qt.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from app.adapters.mail.smtp import compose as compose_mail
from app.adapters.store.outbox import Outbox
from app.adapters.store.refund_mail_repo import MailOutbox
from app.core.alerts import Alert
from app.core.errors import MonitorError, NotConfigured
from app.core.refund_filing import (
    OPERATOR_HINTS,
    Channel,
    FilingFailure,
    Identity,
    RefundPolicy,
    classify,
)
from app.core.refund_letter import Letter

log = logging.getLogger(__name__)

MAX_MESSAGES_PER_CYCLE = 5
T = TypeVar("T")


class Desk(Protocol):
    """The cloud route an item is filed with: file under a key, ask about it later."""

    def file(self, key: str, body: str) -> Any: ...  # a remote object with an `id`

    def get(self, remote_id: str) -> Any: ...


class MailOut(Protocol):
    def send(self, raw: bytes, recipient: str) -> None: ...


@dataclass(frozen=True)
class FilingConfig:
    """What the current Settings say, read once per cycle."""

    channels: tuple[Channel, ...]
    identity: Identity
    support_email: str = ""
    sender: str = ""


@dataclass
class CycleReport:
    new_claims: list[Any] = field(default_factory=list)
    notices: list[Alert] = field(default_factory=list)  # happened now: show once
    problems: list[Alert] = field(default_factory=list)  # still true: dedupe by key


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class OutboxRelay(Generic[T]):
    """One outbox's filing, follow-up and channel health. `mail_kind` names the Message-ID."""

    mail_kind = "refund"

    def __init__(self, repo: Outbox[T], mail_box: MailOutbox[T],
                 desk: Callable[[], Desk] | None, mail: Callable[[], MailOut] | None,
                 clock: Callable[[], datetime], policy: RefundPolicy | None = None,
                 owner: str | None = None, rng: random.Random | None = None):
        self._box = repo
        self._mail_box = mail_box
        self._desk = desk
        self._mail = mail
        self._clock = clock
        self.policy = policy or RefundPolicy()
        self.owner = owner or new_owner()
        self._rng = rng or random.Random()

    # -- what a subclass says -------------------------------------------------------------------

    def item_id(self, item: T) -> str:
        return str(getattr(item, "id"))  # noqa: B009 - claims and requests both have one

    def item_key(self, item: T) -> str:
        return str(getattr(item, "idempotency_key"))  # noqa: B009

    def cloud_body(self, item: T, config: FilingConfig) -> str:
        raise NotImplementedError

    def apply_remote(self, report: CycleReport, item_id: str, remote: Any) -> None:
        raise NotImplementedError

    def refused(self, report: CycleReport, item_id: str, failure: FilingFailure) -> None:
        raise NotImplementedError

    def filed_notice(self, items: Sequence[T], channel: Channel, to: str = "") -> Alert | None:
        return None

    def letter(self, items: Sequence[T], config: FilingConfig) -> Letter:
        raise NotImplementedError

    def mail_batch(self, items: list[T], now: datetime, force: bool) -> list[T]:
        """Which unsent items go into the next message (all of them, by default)."""
        return items

    def failure(self, error: MonitorError) -> FilingFailure:
        return classify(error)

    def problem_alert(self, channel: Channel, state_kind: str, message: str,
                      waiting: int) -> Alert:
        raise NotImplementedError

    # -- the cloud ------------------------------------------------------------------------------

    def file_cloud(self, config: FilingConfig, report: CycleReport) -> None:
        if not self._due(Channel.CLOUD) or self._desk is None:
            return
        filed: list[T] = []
        batch = uuid.uuid4().hex  # this pass's items: the one notice below names them all
        while True:
            taken = self._box.take_cloud_filing(self.owner, self._clock(), self._lease())
            if taken is None:
                break
            item, body = taken
            item_id = self.item_id(item)
            try:
                if not config.identity.account_email:
                    raise NotConfigured("No account email is known for requests to support.")
                if body is None:
                    body = self._box.freeze_body(item_id, self.cloud_body(item, config))
                self._box.record_attempt("cloud", self._clock(), "sending", item_id=item_id)
                remote = self._desk().file(self.item_key(item), body)
            except MonitorError as error:
                failure = self.failure(error)
                self._box.filing_failed(item_id, "cloud", self.owner, self._clock(), failure)
                if failure.claim_refused:
                    self.refused(report, item_id, failure)
                    continue
                self._channel_failed(Channel.CLOUD, failure)
                break
            done = self._box.filing_done(item_id, "cloud", self.owner, self._clock(), remote.id,
                                         batch=batch)
            if done is not None:
                filed.append(done)
            self._box.channel_ok(Channel.CLOUD.value)
            self.apply_remote(report, item_id, remote)
        notice = self.filed_notice(filed, Channel.CLOUD) if filed else None
        if notice is not None:
            report.notices.append(notice)

    def follow_cloud(self, report: CycleReport, *, force: bool) -> None:
        if self._desk is None:
            return
        every = 0.0 if force else self.policy.follow_every.total_seconds()
        for item in self._box.to_follow(self._clock(), every):
            remote_id = getattr(item, "remote_id")  # noqa: B009
            assert remote_id is not None
            try:
                remote = self._desk().get(remote_id)
            except MonitorError as error:
                log.info("%s follow-up paused: %s", self.mail_kind, error)
                return  # offline or refused: the next cycle asks again
            self._box.checked(self.item_id(item), self._clock())
            self.apply_remote(report, self.item_id(item), remote)

    # -- email ----------------------------------------------------------------------------------

    def file_email(self, config: FilingConfig, report: CycleReport, *, force: bool) -> None:
        if not self._due(Channel.EMAIL) or self._mail is None:
            return
        for _ in range(MAX_MESSAGES_PER_CYCLE):
            now = self._clock()
            message = self._mail_box.take_unsent_message(self.owner, now, self._lease())
            if message is None:
                try:
                    opened = self._open_message(config, now, force)
                except MonitorError as error:
                    self._channel_failed(Channel.EMAIL, self.failure(error))
                    return
                if opened is None:
                    return
                message_id, recipient, raw = opened
            else:
                message_id, recipient, raw = message.message_id, message.recipient, message.raw
            try:
                self._mail().send(raw, recipient)
            except MonitorError as error:
                failure = self.failure(error)
                self._mail_box.message_failed(message_id, self.owner, self._clock(), failure,
                                              maybe_sent=getattr(error, "maybe_sent", False))
                self._channel_failed(Channel.EMAIL, failure)
                return
            filed = self._mail_box.message_sent(message_id, self.owner, self._clock())
            self._box.channel_ok(Channel.EMAIL.value)
            notice = self.filed_notice(filed, Channel.EMAIL, recipient) if filed else None
            if notice is not None:
                report.notices.append(notice)

    def _open_message(self, config: FilingConfig, now: datetime, force: bool
                      ) -> tuple[str, str, bytes] | None:
        items = self.mail_batch(self._mail_box.unsent_items(now), now, force)
        if not items:
            return None
        who = config.identity
        if not config.support_email or not config.sender or not who.account_email:
            raise NotConfigured("The support address, the sender address or the account email "
                                "for emails to support is not set.")
        letter = self.letter(items, config)
        domain = config.sender.rpartition("@")[2] or "booth-credit-monitor.invalid"
        message_id = f"<{self.mail_kind}-{uuid.uuid4().hex}@{domain}>"
        raw = compose_mail(letter, sender=config.sender, recipient=config.support_email,
                           message_id=message_id, date=now, reply_to=who.account_email)
        if not self._mail_box.open_message(message_id, config.support_email, raw,
                                           [self.item_id(i) for i in items], self.owner, now,
                                           self._lease()):
            return None  # another process took some of them; look again next cycle
        return message_id, config.support_email, raw

    # -- channel health -------------------------------------------------------------------------

    def _due(self, channel: Channel) -> bool:
        state = self._box.channel_state(channel.value)
        return state.next_attempt_at is None or state.next_attempt_at <= self._clock()

    def _channel_failed(self, channel: Channel, failure: FilingFailure) -> None:
        now = self._clock()
        failures = self._box.channel_state(channel.value).failures + 1
        if failure.retryable:
            delay = self.policy.retry.delay(failures, self._rng, failure.retry_after)
        else:
            delay = self.policy.operator_recheck.total_seconds()
        self._box.channel_failed(channel.value, now, failure, now + timedelta(seconds=delay))
        log.warning("%s %s filing failed (%s): %s; next try in %.0f s", self.mail_kind,
                    channel.value, failure.kind, failure.message, delay)

    def _lease(self) -> float:
        return self.policy.lease.total_seconds()

    def problems(self, config: FilingConfig) -> list[Alert]:
        """Problems only the operator can fix, per selected channel, while they last."""
        found = []
        for channel in config.channels:
            state = self._box.channel_state(channel.value)
            if state.last_error_kind in OPERATOR_HINTS:
                waiting = self._box.waiting(channel.value)
                if waiting:
                    found.append(self.problem_alert(channel, state.last_error_kind or "",
                                                    state.last_error or "", waiting))
        return found
