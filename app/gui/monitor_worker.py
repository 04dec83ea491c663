"""The tray app's worker: owns the Runtime (disk, network, keyring) on its own QThread.

The GUI thread never touches the store or the cloud: it sends requests to these slots through
queued signals and draws whatever Snapshot comes back. Like Dangerzone's runner threads, this
class only schedules core work and turns results into signals; the rules live in app.core.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.adapters.system.logs import register_secret
from app.adapters.system.settings_file import Settings, write_atomic
from app.core.account_guard import Trap
from app.core.alerts import Alert
from app.core.backoff import Backoff
from app.core.bandwidth import PreflightResult
from app.core.cache import CachedState
from app.core.conditions import Assessment, assess
from app.core.errors import MonitorError, NotConfigured
from app.core.event_summary import summary_csv
from app.core.forecast import Forecast
from app.core.jobs import QueueCounts
from app.core.model import LedgerEntry
from app.core.status import StatusView, ViewSettings, build_view
from app.core.support_requests import SupportRequest
from app.core.sync import LEDGER_FOLLOW_UP_SECONDS
from app.gui.alert_worker import AlertWorker
from app.gui.refunds_view import RefundsWorker
from app.gui.support_view import GuardWorker
from app.gui.system_worker import SystemWorker
from app.orchestration.alert_path import AlertPath, current_alerts, raise_alerts
from app.orchestration.fleet_path import set_mqtt_password
from app.orchestration.guard_path import GuardPath
from app.orchestration.job_path import JobFolders, job_folders
from app.orchestration.refund_path import RefundPath, set_smtp_password
from app.orchestration.summary_path import event_summary
from app.runtime import Options, Runtime, utc_now

log = logging.getLogger(__name__)

RECENT_ENTRIES = 50
LINK_HOURS = 3.0  # how far back the window's bandwidth chart looks
# After the OS says the network is back, or after a demo scenario, look again this soon.
SOON_SECONDS = 1.0
# After this booth's own jobs spent credits: refresh shortly, but not more often than this, so
# a busy night (a photo every 20 s) costs one small sync every few seconds at most.
AFTER_JOBS_SECONDS = 3.0
MIN_REFRESH_GAP = 10.0
WINDOW_STATE = "window.json"


@dataclass(frozen=True)
class Snapshot:
    """Everything the widgets show, built on the worker thread and handed over whole."""

    state: CachedState
    view_settings: ViewSettings
    settings: Settings
    recent: list[LedgerEntry] = field(default_factory=list)
    syncing: bool = False
    secret_note: str = ""
    demo: bool = False
    link: PreflightResult | None = None  # the last bandwidth check, by the tray or a job
    link_history: list[PreflightResult] = field(default_factory=list)  # the last hours
    passive_history: list[Any] = field(default_factory=list)  # PassiveReading: photos' transfers
    probe_bytes_today: int = 0  # hotspots are metered: what the checks cost today
    alert_keys: frozenset[str] = frozenset()  # conditions notified and still active
    folders: JobFolders | None = None  # where photos go in and out (Settings shows them)
    window_geometry: list[int] | None = None  # where the operator left the window
    forecast: Forecast | None = None  # the shared balance at the fleet's recent pace
    alert_targets: tuple[str, ...] = ()  # phone alert URLs by label ("ntfy address 1")
    lasting_alerts: tuple[Alert, ...] = ()  # their newest words (a forecast that moved)
    # The account guard's findings and requests: the icon, the tooltip, the menu, the header
    # and `status` all assess with them (read here, on the worker thread).
    traps: tuple[Trap, ...] = ()
    requests: tuple[SupportRequest, ...] = ()

    def view(self) -> StatusView:
        # Recomputed on every call so ages and staleness move on between syncs.
        return build_view(self.state, utc_now(), self.view_settings)

    def assess(self, queue: QueueCounts | None = None) -> Assessment:
        """The one model the tray, the window and the menu render."""
        return assess(self.view(), utc_now(), link=self.link, queue=queue,
                      threshold_mbps=float(self.settings.preflight_threshold_mbps),
                      traps=self.traps, requests=self.requests)


class MonitorWorker(QObject):
    snapshot = Signal(object)  # Snapshot
    alert = Signal(object)  # app.core.alerts.Alert
    problem = Signal(str, str)  # title, message: an action the operator asked for failed
    ready = Signal()
    stopped = Signal()
    settings_applied = Signal()  # saved: the job path re-reads folders, rules and token
    summary_ready = Signal(object)  # app.core.event_summary.EventSummary
    summary_exported = Signal(bool, str)  # ok, one line for the operator

    def __init__(self, options: Options, backoff: Backoff | None = None):
        super().__init__()
        self._options = options
        self._backoff = backoff or Backoff()
        self._rng = random.Random()
        self._runtime: Runtime | None = None
        self._timer: QTimer | None = None
        self._alert_timer: QTimer | None = None
        self._syncing = False
        self._last_refresh = -MIN_REFRESH_GAP  # time.monotonic() when the last sync ended
        self._window_geometry: list[int] | None = None
        # Refund claims run on this thread, after each sync, from the same runtime: they need
        # the freshly synced ledger and must not race it for the store.
        self.refunds = RefundsWorker(lambda: RefundPath(self._require_runtime()))
        self.refunds.setParent(self)
        # The account guard (issue 11) likewise: it reads the ledger the sync just wrote. The
        # tray app renders the balance panel, so a dispute waits briefly for that picture.
        self.guard = GuardWorker(lambda: GuardPath(self._require_runtime(), screenshots=True),
                                 phone=lambda found: self.alerts.take_all(found))
        self.guard.setParent(self)
        self.guard.loaded.connect(self._guard_loaded)  # its traps are in the next Snapshot
        # Start at login, diagnostics and first-run setup: same thread, same runtime.
        self.system = SystemWorker(self._require_runtime, self._settings_changed)
        self.system.setParent(self)
        # Phone alerts (issue 13): same thread, same runtime; the refund cycle's and the job
        # notices' alerts reach it through its take slot, the monitor's through _notify.
        self.alerts = AlertWorker(lambda: AlertPath(self._require_runtime()))
        self.alerts.setParent(self)
        self.refunds.alert.connect(self.alerts.take)

    # -- lifecycle (called on the worker thread) -----------------------------------------------

    @Slot()
    def start(self) -> None:
        try:
            self._runtime = Runtime(self._options)
            if self._options.demo:
                self._runtime.start_demo_cloud()
        except MonitorError as error:
            log.error("cannot start: %s", error)
            self.problem.emit("Booth Credit Monitor cannot start", str(error))
            return
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh_now)
        self._alert_timer = QTimer(self)
        self._alert_timer.setSingleShot(True)
        self._alert_timer.timeout.connect(self._look_again)
        self._window_geometry = _read_geometry(self._runtime)
        self._publish()
        self.ready.emit()
        self.system.look()
        self._schedule(SOON_SECONDS)

    @Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.alerts.stop()
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None
            log.info("monitor stopped; store closed")
        self.stopped.emit()

    # -- requests from the GUI -----------------------------------------------------------------

    @Slot()
    def refresh_now(self) -> None:
        runtime = self._runtime
        if runtime is None:
            return
        self._syncing = True
        self._publish()
        try:
            delay = self._refresh(runtime)
        except MonitorError as error:
            # Not configured, disk full, keyring locked: nothing a retry fixes by itself soon.
            log.warning("refresh not possible: %s", error)
            self._problem_after_refresh(str(error))
            delay = self._backoff.cap
        except Exception:
            # A bug must not end the refresh loop: the balance would stop moving in silence.
            log.exception("refresh failed unexpectedly")
            self._problem_after_refresh("An unexpected error; the details are in the log. "
                                        "It will be tried again in a few minutes.")
            delay = self._backoff.cap
        self._last_refresh = time.monotonic()
        self._schedule(delay)

    @Slot()
    def refresh_soon(self) -> None:
        """This booth's own jobs just spent credits: look at the balance shortly, so the figure
        follows our spending instead of lagging until the next interval."""
        if self._timer is None or self._syncing:
            return
        delay = max(AFTER_JOBS_SECONDS, MIN_REFRESH_GAP - (time.monotonic() - self._last_refresh))
        remaining = self._timer.remainingTime() / 1000
        if not self._timer.isActive() or remaining > delay:
            self._schedule(delay)

    @Slot(object)
    def summarize(self, since: datetime | None) -> None:
        runtime = self._runtime
        if runtime is None:
            return
        try:
            self.summary_ready.emit(event_summary(runtime, since))
        except MonitorError as error:
            self.problem.emit("Event summary not read", str(error))

    @Slot(str, object)
    def export_summary(self, path: str, since: datetime | None) -> None:
        runtime = self._runtime
        if runtime is None:
            return
        try:
            write_atomic(Path(path), summary_csv(event_summary(runtime, since)).encode("utf-8"))
        except MonitorError as error:
            self.summary_exported.emit(False, str(error))
            return
        self.summary_exported.emit(True, f"Saved to {path}.")

    @Slot(object)
    def save_window_geometry(self, geometry: list[int]) -> None:
        """Remembered in the cache folder: losing it costs nothing but a window position."""
        runtime = self._runtime
        self._window_geometry = list(geometry)
        if runtime is None:
            return
        try:
            write_atomic(runtime.paths.cache_dir / WINDOW_STATE,
                         json.dumps({"geometry": geometry}).encode())
        except MonitorError as error:
            log.info("window position not saved: %s", error)

    def _refresh(self, runtime: Runtime) -> float:
        """One sync, its notifications and the refund cycle; returns when to come back."""
        outcome = runtime.refresh()
        self._syncing = False
        self._notify(runtime, outcome.new_entries)
        self.refunds.cycle()
        self.guard.cycle()
        self.alerts.catch_up()  # outcomes committed there whose phone copy a crash lost
        self.alerts.after_sync(outcome.ok)
        if outcome.ok:
            if outcome.ledger_behind:
                return min(LEDGER_FOLLOW_UP_SECONDS, runtime.settings.refresh_interval_seconds)
            return runtime.settings.refresh_interval_seconds
        failures = runtime.cache.load_cache().health.consecutive_failures
        return self._backoff.delay(failures, self._rng, outcome.retry_after)

    def _notify(self, runtime: Runtime, new_entries: list[LedgerEntry]) -> None:
        """Publish, then the alerts that are new (and the outages that ended) since the last
        look; an unreachable cloud gets one more look when its notice is due, so the notice
        comes on time even while syncs back off for minutes."""
        now = utc_now()
        after = timedelta(seconds=max(0, int(runtime.settings.offline_notice_seconds)))
        # The phone-routed ones are in the outbox before their keys are remembered.
        shown = raise_alerts(runtime, self.alerts.path(), new_entries, now)
        active = runtime.cache.active_alert_keys()
        view = runtime.view()
        self._publish()  # before the alerts, so a notification never outruns the figures
        for item in shown:
            log.info("alert: %s: %s", item.title, item.message)
            self.alert.emit(item)
        if shown:
            self.alerts.deliver()
        since = view.contact.failing_since if view.offline else None
        if since is not None and self._alert_timer is not None and not any(
                k.startswith("offline:") for k in active):
            due = (since + after - now).total_seconds()
            self._alert_timer.start(int(max(0.0, due) * 1000) + 50)

    @Slot()
    def _look_again(self) -> None:
        if self._runtime is None:
            return
        try:
            self._notify(self._runtime, [])
        except MonitorError as error:
            log.warning("alerts not evaluated: %s", error)
            self._publish()

    @Slot(object, object, object)
    def _guard_loaded(self, *_: object) -> None:
        self._publish()

    def _problem_after_refresh(self, message: str) -> None:
        self._syncing = False
        self._publish()
        self.problem.emit("Balance not refreshed", message)

    @Slot()
    def network_changed(self) -> None:
        """The OS thinks the network changed: a hint to look now, never a verdict."""
        self._schedule(SOON_SECONDS)

    @Slot(object, object)
    def apply_settings(self, changes: dict[str, Any], secrets: dict[str, str]) -> None:
        """`secrets` holds only what the operator typed anew: "token", "smtp_password",
        "mqtt_password"."""
        runtime = self._runtime
        if runtime is None:
            return
        changes = dict(changes)
        start_at_login = changes.pop("start_at_login", None)
        secrets = dict(secrets)
        # New phone alert URLs, or [] to remove them all (never registered as one secret: the
        # list is split and each URL is registered when it is stored).
        alert_urls = secrets.pop("alert_urls", None)
        urls = None if alert_urls is None else alert_urls.split()
        if changes.pop("alert_urls_cleared", False):
            urls = []
        try:
            runtime.settings = replace(runtime.settings, **changes)
            runtime.save_settings()
            for value in secrets.values():
                register_secret(value)
            if secrets.get("token"):
                where = runtime.secrets.set_token(runtime.cloud_url, secrets["token"])
                log.info("API token saved (%s)", where)
            if secrets.get("smtp_password"):
                where = set_smtp_password(runtime, secrets["smtp_password"])
                log.info("SMTP password saved (%s)", where)
            if secrets.get("mqtt_password"):
                where = set_mqtt_password(runtime, secrets["mqtt_password"])
                log.info("MQTT broker password saved (%s)", where)
            where = self.alerts.save_urls(urls)
            if where:
                log.info("phone alert addresses saved (%s)", where)
        except MonitorError as error:
            self.problem.emit("Settings not saved", str(error))
            return
        if start_at_login is not None:
            self.system.set_autostart(bool(start_at_login))
        self._settings_changed()

    def _settings_changed(self) -> None:
        """Settings or the token changed: a new client, the claims and jobs re-read, a sync."""
        if self._runtime is not None:
            self._runtime.reset_cloud()
        self.refunds.settings_changed()
        self.guard.settings_changed()
        self.settings_applied.emit()
        self._publish()
        self._schedule(0)

    @Slot(str, object)
    def demo_scenario(self, name: str, payload: dict[str, Any]) -> None:
        runtime = self._runtime
        if runtime is None or not self._options.demo:
            return
        try:
            runtime.cloud().request("POST", f"/demo/scenarios/{name}", json=payload)
        except MonitorError as error:
            self.problem.emit("Demo scenario failed", str(error))
            return
        log.info("demo scenario %s started", name)
        self._schedule(SOON_SECONDS)

    # -- helpers -------------------------------------------------------------------------------

    @Slot()
    def publish(self) -> None:
        """Something the snapshot shows changed elsewhere (a bandwidth check finished, the
        job path lost or found the cloud): redraw, and look at the alerts again."""
        self._look_again()

    def shared_runtime(self) -> Runtime:
        """For the job worker and the bandwidth check, once `ready` was emitted. The store and
        the HTTP client are safe across threads; sharing one runtime also shares one preflight,
        so the tray's check and a job's check never probe the link at the same time."""
        return self._require_runtime()

    def _secret_note(self, runtime: Runtime) -> str:
        # The demo's token is fixed and nothing is stored: do not wake the OS keyring for it
        # (discovering keyring backends alone costs about 8 MB of memory).
        if self._options.demo:
            return "Demo mode: the demo cloud's fixed token is used; nothing is stored."
        return runtime.secrets.describe()

    def _require_runtime(self) -> Runtime:
        if self._runtime is None:
            raise NotConfigured("The monitor is not started yet.")
        return self._runtime

    def _schedule(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.start(int(max(0.0, seconds) * 1000))

    def _publish(self) -> None:
        runtime = self._runtime
        if runtime is None:
            return
        try:
            now = utc_now()
            probes = runtime.probe_history()
            spent = probes.spent_today(now)
            traps, requests = self._guard_state()
            snap = Snapshot(
                state=runtime.cache.load_cache(),
                view_settings=runtime.view_settings(),
                settings=replace(runtime.settings),
                recent=runtime.cache.recent_entries(RECENT_ENTRIES),
                syncing=self._syncing,
                secret_note=self._secret_note(runtime),
                demo=self._options.demo,
                link=probes.latest_probe(),
                link_history=probes.last_hours(now, LINK_HOURS),
                passive_history=probes.passive_history(now - timedelta(hours=LINK_HOURS)),
                probe_bytes_today=spent.total_bytes,
                alert_keys=frozenset(runtime.cache.active_alert_keys()),
                folders=job_folders(runtime),
                window_geometry=self._window_geometry,
                forecast=runtime.forecast(runtime.view(), now),
                # The demo does not wake the OS keyring for this (see _secret_note).
                alert_targets=self.alerts.labels(load=not self._options.demo),
                lasting_alerts=tuple(a for a in current_alerts(runtime, [], now) if a.lasting),
                traps=tuple(traps),
                requests=tuple(requests),
            )
        except MonitorError as error:
            self.problem.emit("Cannot read the local data", str(error))
            return
        self.snapshot.emit(snap)


    def _guard_state(self) -> tuple[list[Trap], list[SupportRequest]]:
        try:
            return self.guard.current()
        except MonitorError as error:  # the balance must still show
            log.warning("account guard not read: %s", error)
            return [], []


def _read_geometry(runtime: Runtime) -> list[int] | None:
    try:
        data = json.loads((runtime.paths.cache_dir / WINDOW_STATE).read_text(encoding="utf-8"))
        geometry = data["geometry"]
        if isinstance(geometry, list) and len(geometry) == 4 and all(
                isinstance(v, int) for v in geometry):
            return geometry
    except (OSError, ValueError, KeyError, TypeError):
        pass  # first start, or a damaged file: the window picks a size for the screen
    return None


__all__ = ["Alert", "MonitorWorker", "Snapshot"]
