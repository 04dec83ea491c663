"""Phone alerts from a runtime: route, commit to the outbox, relay to the Apprise URLs.

`take()` is called where alerts are raised (the monitor's sync, the refund cycle, the job
notices); `deliver()` after each take, after every sync that reached the cloud (the link is
back) and on the worker's retry timer while alerts wait. Both run on a worker thread, never the
GUI's. The URLs themselves are kept by alert_targets.py.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from app.adapters.notify.apprise_sender import AppriseSender, service_label
from app.adapters.store.alerts_repo import AlertsRepo
from app.adapters.store.fleet_outbox_repo import read_presence
from app.adapters.store.jobs_repo import JobsRepo
from app.adapters.system.logs import register_secret
from app.core.alert_outbox import OutboxAlert, disposition, phone_text
from app.core.alert_routing import (
    Route,
    kind_of,
    queue_condition_keys,
    routes_from_setting,
    wants_phone,
)
from app.core.alert_sender import Presence, choose, handover, is_account_wide
from app.core.alerts import (
    Alert,
    alerts_for,
    ended_alerts,
    forecast_alerts,
    fresh_alerts,
    sooner_alerts,
)
from app.core.errors import BadAlertAddress, MonitorError, NotConfigured
from app.orchestration.alert_catch_up import recent_notices
from app.orchestration.alert_targets import Target, load_targets
from app.orchestration.guard_path import guard_alert_keys

if TYPE_CHECKING:
    from app.core.model import LedgerEntry
    from app.runtime import Runtime

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0  # longer than a few services' timeouts in a row


class Sender(Protocol):
    def send(self, url: str, label: str, title: str, body: str, severity: str) -> None: ...


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    waiting: int = 0  # still in the outbox: the retry timer comes back for them
    no_address: bool = False  # none is set: nothing to retry until one is
    problems: dict[str, str] = field(default_factory=dict)  # target label -> one line


@dataclass(frozen=True)
class TestOutcome:
    label: str
    ok: bool
    message: str


class AlertPath:
    def __init__(self, runtime: Runtime, sender: Sender | None = None,
                 lease_seconds: float = LEASE_SECONDS):
        self.runtime = runtime
        self.repo = AlertsRepo(runtime.db)
        self.sender: Sender = sender or AppriseSender()
        self.lease_seconds = lease_seconds
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._targets: list[Target] | None = None

    def routes(self) -> dict[str, Route]:
        return routes_from_setting(self.runtime.settings.alert_routes)

    def targets(self) -> list[Target]:
        """Read from the keyring once, again after settings_changed()."""
        if self._targets is None:
            self._targets = load_targets(self.runtime)
        return self._targets

    def settings_changed(self) -> None:
        self._targets = None

    def _may_have_targets(self) -> bool:
        """A locked keyring does not say there is no URL: queue, and send once it opens."""
        try:
            return bool(self.targets())
        except MonitorError as error:
            log.warning("phone alert addresses not readable (%s); queued anyway", error)
            return True

    def presence(self) -> Presence | None:
        """What the fleet path last saw of the account's booths (None without a broker: each
        booth then sends its own account-wide alerts)."""
        if not str(self.runtime.settings.mqtt_host).strip():
            return None
        return read_presence(self.runtime.db)

    def take(self, alerts: Iterable[Alert], now: datetime) -> list[str]:
        """Commit the phone-routed ones; returns each one's admission ('new', 'repeat',
        'rate_limited', 'unpaired', 'left': another booth of the account sends it). Without a
        phone address nothing is queued: alerts would pile up for an address that may never
        come."""
        routes = self.routes()
        wanted = [a for a in alerts if wants_phone(a, routes)]
        if not wanted or not self._may_have_targets():
            return []
        booth = self.runtime.booth_id
        presence = self.presence() if any(is_account_wide(a.key) for a in wanted) else None
        verdicts = []
        for alert in wanted:
            kind = kind_of(alert.key)
            if kind == "link_back" and not self.repo.admitted(
                    "offline:" + alert.key.partition(":")[2]):
                # The phone hears of an outage as a pair or not at all: a "back" whose "down"
                # it never got (routed to the tray, rate-limited) would be news of nothing.
                verdicts.append("unpaired")
                continue
            choice = choose(alert.key, presence, now)
            verdict = self.repo.add(alert, kind, routes[kind], booth, now,
                                    left_to=choice.left_to, note=choice.note)
            log.info("phone alert %s: %s", alert.key, verdict)
            verdicts.append(verdict)
        return verdicts

    def catch_up(self, now: datetime) -> list[str]:
        """Queue the recently filed and settled claims' notices the outbox never saw (a crash
        between a filing's or an outcome's commit and its notice's take): see alert_catch_up."""
        found = recent_notices(self.runtime, now)
        seen = self.repo.seen([a.key for a in found]) if found else set()
        missing = [a for a in found if a.key not in seen]
        return self.take(missing, now) if missing else []

    def active_keys(self) -> set[str]:
        """Conditions that still hold: the monitor's (kept in the cache), the queue's and the
        account guard's traps (read from the store, so a trap notice waiting for the link is
        sent while the trap lasts, and dropped once it is settled)."""
        return set(self.runtime.cache.active_alert_keys()) | queue_condition_keys(
            JobsRepo(self.runtime.db).counts()) | guard_alert_keys(self.runtime)

    def hand_over(self, now: datetime) -> None:
        """The account-wide alerts this booth left to another: take over those whose sender
        went away before it could send them (app.core.alert_sender.handover)."""
        rows = self.repo.open_left()
        if not rows:
            return
        presence = self.presence()
        for row in rows:
            fate = handover(row.left_to, row.created_at, presence, now)
            if fate.verdict == "done":
                self.repo.left_settled(row.id)
            elif fate.verdict == "left":
                self.repo.left_moved(row.id, fate.left_to)
            elif fate.verdict == "send":
                log.info("phone alert %s: taken over from %s", row.key, row.left_to)
                self.repo.take_over(row.id, fate.note)

    def pending_count(self) -> int:
        """Waiting, or left to another booth and not settled yet: the timer comes back."""
        return self.repo.waiting_count() + self.repo.open_left_count()

    def deliver(self, now: datetime) -> DeliveryReport:
        report = DeliveryReport()
        self.hand_over(now)
        targets: list[Target] | None
        try:
            targets = self.targets()
        except MonitorError as error:  # the keyring is locked: keep them waiting
            report.problems["keyring"] = str(error)
            targets = None
        if not targets:
            report.no_address = targets is not None
            report.waiting = self.pending_count()
            return report
        items = self.repo.take(self.owner, now, self.lease_seconds)
        active = self.active_keys() if items else set()
        failed: set[str] = set()  # a URL that failed is not tried again in this pass
        for item in items:
            verdict, reason = disposition(item, active, now)
            if verdict == "drop":
                self.repo.finish(item.id, self.owner, "dropped", now, reason=reason)
                report.dropped.append(item.id)
                continue
            if self._send(item, targets, failed, verdict == "late", now, report):
                self.repo.finish(item.id, self.owner, "sent", now, late=verdict == "late")
                report.sent.append(item.id)
        report.waiting = self.pending_count()
        return report

    def _send(self, item: OutboxAlert, targets: list[Target], failed: set[str], late: bool,
              now: datetime, report: DeliveryReport) -> bool:
        title, body = phone_text(item, now, late)
        missing = False
        for target in targets:
            if target.id in item.done_targets:
                continue
            if target.id in failed:
                missing = True  # keep the order: nothing newer reaches it before this one
                continue
            try:
                self.sender.send(target.url, target.label, title, body, item.severity)
            except BadAlertAddress as error:
                # No retry makes Apprise understand it: the others must not wait for it.
                # Settings' test and `alerts` say so.
                failed.add(target.id)
                report.problems[target.label] = str(error)
                continue
            except MonitorError as error:
                failed.add(target.id)
                report.problems[target.label] = str(error)
                log.warning("phone alert #%s not sent: %s", item.id, error)
                missing = True
                continue
            self.repo.target_done(item.id, target.id, self.owner)
        if missing:
            self.repo.release(item.id, self.owner, "; ".join(report.problems.values()))
        return not missing

    def send_test(self, urls: Sequence[str] | None = None) -> list[TestOutcome]:
        """One test alert to each URL (those typed in Settings, else the stored ones), now,
        outside the outbox: the operator wants to know whether each works, not a queue."""
        if urls:
            targets = [Target("", u, service_label(u, n + 1)) for n, u in enumerate(urls)]
            for url in urls:
                register_secret(url)
        else:
            targets = self.targets()
        if not targets:
            raise NotConfigured("No phone alert address is set.",
                                hint="Add one in Settings → Phone alerts.")
        booth = self.runtime.booth_id
        outcomes = []
        for target in targets:
            try:
                self.sender.send(target.url, target.label, f"{booth}: test alert",
                                 f"Phone alerts from {booth} reach you here.", "info")
            except MonitorError as error:
                outcomes.append(TestOutcome(target.label, False, str(error)))
                continue
            label = target.label[:1].upper() + target.label[1:]
            outcomes.append(TestOutcome(target.label, True,
                                        f"{label}: sent. Check that it arrived."))
        return outcomes

    def recent(self, limit: int = 50) -> list[OutboxAlert]:
        return self.repo.recent(limit)


def current_alerts(runtime: Runtime, new_entries: Sequence[LedgerEntry],
                   now: datetime) -> list[Alert]:
    """Every alert the monitor's state calls for now, told or not (the Snapshot carries the
    lasting ones, so the window's list shows a moved forecast's newest words)."""
    view = runtime.view()
    after = timedelta(seconds=max(0, int(runtime.settings.offline_notice_seconds)))
    found = alerts_for(view, list(new_entries), now, after)
    found += forecast_alerts(runtime.forecast(view, now), now)
    return found


def raise_alerts(runtime: Runtime, path: AlertPath | None, new_entries: list[LedgerEntry],
                 now: datetime) -> list[Alert]:
    """The monitor's alerts after a sync (or a look between syncs): those new since the last
    look and the outages that ended. The phone-routed ones are committed to the outbox before
    the active keys that say they were raised: a crash in between raises them again on the next
    start, and the outbox takes the repeat as the same alert (REPEAT_WINDOW)."""
    before = runtime.cache.active_alert_keys()
    found = current_alerts(runtime, new_entries, now)
    shown, active = fresh_alerts(found, before)
    sooner, dues = sooner_alerts([a for a in found if a.key in before],
                                 runtime.cache.active_alert_dues(), now)
    dues.update({a.key: a.due_at for a in shown if a.due_at is not None})
    shown += sooner
    shown += ended_alerts(before, active, now)
    if path is not None:
        try:
            path.take(shown, now)
        except MonitorError as error:  # the tray must still hear of them
            log.warning("phone alerts not queued: %s", error)
    runtime.cache.set_active_alert_keys(active, dues)
    return shown
