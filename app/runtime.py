"""The composition root: builds the adapters once and hands the core what it needs.

The command line and the tray app both start here, so `status --json` and the tray icon can never
disagree about where files live, which cloud is used or how the token is found.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from app.adapters.cloud.client import HttpCloud, answers_health
from app.adapters.store import Database
from app.adapters.store.cache_repo import CacheRepo
from app.adapters.system.demo_address import FILE_NAME as DEMO_ADDRESS_FILE
from app.adapters.system.demo_address import (
    read_demo_address,
    remove_demo_address,
    write_demo_address,
)
from app.adapters.system.logs import register_secret, setup_logging
from app.adapters.system.paths import AppPaths, resolve_paths
from app.adapters.system.secrets import SecretStore
from app.adapters.system.settings_file import Settings, load_settings, save_settings
from app.core.booth_identity import booth_id, booth_name
from app.core.cloud_address import redact_url
from app.core.errors import NotConfigured
from app.core.forecast import PACE_FALLBACK, Forecast, default_event_end, forecast
from app.core.status import StatusView, ViewSettings, build_view
from app.core.sync import SyncOutcome, SyncService

if TYPE_CHECKING:
    from app.adapters.cloud.transport import CloudTransport
    from app.adapters.store.pacing_repo import Limit, SharedBucket
    from app.adapters.store.probes_repo import ProbesRepo
    from app.core.bandwidth import Preflight, PreflightResult
    from app.democloud.server import DemoCloud

log = logging.getLogger(__name__)

CLOUD_ENV = "BOOTH_MONITOR_CLOUD_URL"
DEMO_TOKEN = "demo-token"
# Loopback to this PC: a live demo cloud answers within milliseconds, a dead port refuses at once.
DEMO_HEALTH_TIMEOUT = 1.0


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Options:
    home: str | None = None
    cloud_url: str | None = None
    demo: bool = False
    demo_job_failure_rate: float = 0.1
    verbose: bool = False


def paths_for(options: Options) -> AppPaths:
    base = resolve_paths(options.home)
    return base.for_profile("demo") if options.demo else base


def start_logging(options: Options) -> None:
    """Idempotent; the tray app calls it before its first log line, the Runtime again."""
    setup_logging(paths_for(options).log_file, verbose=options.verbose)


class Runtime:
    """One per thread that needs the store or the cloud (a SQLite connection is not shared
    across threads). In the tray app several runtimes share one embedded demo cloud: the first
    starts it and passes it to the others as `demo_cloud`; only its starter stops it."""

    def __init__(self, options: Options, *, demo_cloud: DemoCloud | None = None):
        self.options = options
        self.paths: AppPaths = paths_for(options)
        self.paths.create()
        start_logging(options)
        self.settings: Settings = load_settings(self.paths.settings_file)
        self.secrets = SecretStore(self.paths.fallback_secrets_file)
        self.db = Database(self.paths.store_file)
        self.cache = CacheRepo(self.db)
        self._demo: DemoCloud | None = demo_cloud
        self._owns_demo = demo_cloud is None
        self._cloud: HttpCloud | None = None
        self._advertised = False  # this runtime wrote the demo address file
        self._found_demo: str | None = None  # running_demo_url(): "" once looked up, none found
        # The tray's monitor and job workers share one runtime: one client, made once.
        self._cloud_lock = threading.RLock()

    # -- which cloud ---------------------------------------------------------------------------

    @property
    def cloud_url(self) -> str:
        """The cloud this runtime talks to; in demo mode the demo cloud's URL once one runs
        (this process's, or the tray app's found by its address file), else ""."""
        if self.options.demo:
            return self._demo.url if self._demo else (self.running_demo_url() or "")
        return (self.options.cloud_url or os.environ.get(CLOUD_ENV) or self.settings.cloud_url
                ).rstrip("/")

    def check_configured(self) -> None:
        """Raise NotConfigured when there is no cloud to talk to (the demo always has one)."""
        if not self.options.demo and not self.cloud_url:
            raise NotConfigured(
                "No cloud URL is set.",
                hint="Use --cloud URL, BOOTH_MONITOR_CLOUD_URL or Settings.",
            )

    @property
    def demo_address_file(self) -> Path:
        return self.paths.data_dir / DEMO_ADDRESS_FILE

    def start_demo_cloud(self) -> DemoCloud:
        """The tray app's demo cloud: started here, and its address recorded in the demo data
        folder so that `--demo` commands use it too (removed again on a clean close())."""
        demo = self._start_demo()
        if not self._advertised:
            write_demo_address(self.demo_address_file, demo.url, utc_now())
            self._advertised = True
        return demo

    def running_demo_url(self) -> str | None:
        """The URL of a demo cloud another process (the tray app) runs, if its address file
        names one that answers a health check right now; a file left by a crash is ignored.
        Looked up once per runtime."""
        if self._found_demo is None:
            found = read_demo_address(self.demo_address_file)
            ok = found is not None and answers_health(found.url, timeout=DEMO_HEALTH_TIMEOUT)
            self._found_demo = found.url if ok and found else ""
            if found and not ok:
                log.info("ignoring %s: nothing answers at %s", self.demo_address_file, found.url)
        return self._found_demo or None

    def _start_demo(self) -> DemoCloud:
        """A demo cloud in this process on an ephemeral loopback port; its ledger lives in the
        demo profile's data folder so the demo account survives restarts too."""
        if self._demo is None:
            from app.democloud.server import DemoCloud

            self._demo = DemoCloud(
                self.paths.data_dir / "demo-cloud.sqlite3",
                token=DEMO_TOKEN,
                job_failure_rate=self.options.demo_job_failure_rate,
            )
            self._demo.start()
            log.info("embedded demo cloud listening on %s", self._demo.url)
        return self._demo

    def cloud(self) -> HttpCloud:
        with self._cloud_lock:
            return self._make_cloud()

    @property
    def booth_id(self) -> str:
        """What the cloud calls this booth (X-Booth-Id): Settings, else the PC's name."""
        return booth_id(str(self.settings.booth_name), socket.gethostname())

    @property
    def booth_name(self) -> str:
        """The same name as people read it: claims, letters, alerts, the fleet."""
        return booth_name(str(self.settings.booth_name), socket.gethostname())

    def _make_cloud(self) -> HttpCloud:
        if self._cloud is None:
            if self.options.demo:
                # The tray app's demo cloud when one runs: a command's own would be a second
                # server on the same ledger, on a port nobody else knows.
                url = (self._demo.url if self._demo else
                       self.running_demo_url() or self._start_demo().url)
                self._cloud = HttpCloud(url, DEMO_TOKEN, booth_id=self.booth_id,
                                        transport=self.cloud_transport(url, DEMO_TOKEN))
            else:
                self.check_configured()
                url = self.cloud_url
                token = self.secrets.get_token(url).value
                register_secret(token)
                self._cloud = HttpCloud(url, token, transport=self.cloud_transport(url, token),
                                        allow_insecure_http=self.settings.allow_insecure_http,
                                        booth_id=self.booth_id)
        return self._cloud

    def cloud_transport(self, url: str, token: str | None) -> CloudTransport:
        """Pacing to the cloud's rate limit (shared by every process on this store) and the
        passive bandwidth readings from the photos' own transfers (issue 14)."""
        from app.adapters.cloud.transport import cloud_transport

        return cloud_transport(self.paths.store_file, url, token, utc_now, self.cloud_limit())

    def pacer_for(self, url: str, token: str | None) -> SharedBucket:
        """The rate limit of this cloud and token that every process on this store shares: the
        bandwidth probe's requests count against it like the cloud client's (issue 14)."""
        from app.adapters.cloud.transport import shared_bucket

        return shared_bucket(self.db, url, token, self.cloud_limit())

    def cloud_limit(self) -> Limit:
        """The share of the cloud's published limit we pace to (Settings, else the contract's)."""
        from app.adapters.store.pacing_repo import Limit

        return Limit.from_published(float(self.settings.cloud_rate_limit),
                                    int(self.settings.cloud_rate_burst))

    def reset_cloud(self) -> None:
        """Forget the client after Settings changed the URL or token."""
        with self._cloud_lock:
            if self._cloud is not None:
                self._cloud.close()
                self._cloud = None

    # -- what the operator sees ----------------------------------------------------------------

    def view_settings(self) -> ViewSettings:
        # Shown and exported (status, the window, diagnostics): never a password in a URL.
        return ViewSettings(cloud_url=redact_url(self.cloud_url),
                            low_balance_cents=self.settings.low_balance_cents)

    def view(self) -> StatusView:
        return build_view(self.cache.load_cache(), utc_now(), self.view_settings())

    def refresh(self) -> SyncOutcome:
        return SyncService(self.cloud(), self.cache, utc_now).refresh()

    def forecast(self, view: StatusView, now: datetime) -> Forecast | None:
        """How long the shared balance lasts at the recent pace, against tonight's event end."""
        try:
            end = default_event_end(now, str(self.settings.event_ends_at))
        except ValueError:
            end = default_event_end(now)  # a hand-edited time that is not HH:MM
        return forecast(view.balance_cents, self.cache.entries_since(now - PACE_FALLBACK),
                        now, event_end=end)

    # -- bandwidth preflight (issue 3) ----------------------------------------------------------

    def probe_history(self) -> ProbesRepo:
        """Preflight results: the chart, bytes spent per day, reuse before the next job."""
        from app.adapters.store.probes_repo import ProbesRepo

        return ProbesRepo(self.db)

    def preflight(self, threshold_mbps: float | None = None) -> Preflight:
        """The bandwidth check the job path, the tray and `preflight` share; it probes the same
        cloud with the same token as cloud(), looked up when a probe starts."""
        import time

        from app.adapters.bandwidth import HttpBandwidthProbe
        from app.core.bandwidth import Preflight, ProbePolicy

        def endpoint() -> tuple[str, str | None]:
            cloud = self.cloud()
            return cloud.base_url, cloud.token

        threshold = threshold_mbps or float(self.settings.preflight_threshold_mbps)
        # One instance per threshold, so the tray's "check now" and the job path share its
        # lock (one probe at a time) and its fresh result.
        cached: Preflight | None = getattr(self, "_preflight", None)
        if cached is None or cached.policy.threshold_mbps != threshold:
            history = ContactNotingProbes(self.probe_history(), self.cache)
            cached = Preflight(HttpBandwidthProbe(endpoint, pacer_for=self.pacer_for), history,
                               utc_now,
                               ProbePolicy(threshold_mbps=threshold), monotonic=time.monotonic,
                               passive=self.probe_history())
            self._preflight = cached
        return cached

    def save_settings(self) -> None:
        save_settings(self.paths.settings_file, self.settings)

    def close(self) -> None:
        if self._cloud is not None:
            self._cloud.close()
        if self._demo is not None and self._owns_demo:
            if self._advertised:
                remove_demo_address(self.demo_address_file, self._demo.url)
            self._demo.stop()
        self.db.close()


# offline_result() keeps the error's class name: how the check failed to reach the cloud.
PROBE_FAILURES = {"CaptivePortal": "captive_portal", "CloudUnavailable": "unavailable",
                  "CloudUnreachable": "offline"}


class ContactNotingProbes:
    """The probe history, which also tells the shared link state what each check found: a
    check that could not reach the cloud makes every surface say offline, and one that reached
    it (whatever the speed) says the link is up."""

    def __init__(self, history: ProbesRepo, cache: CacheRepo):
        self._history = history
        self._cache = cache

    def record_probe(self, result: PreflightResult) -> None:
        from app.core.bandwidth import Verdict

        self._history.record_probe(result)
        error = str(result.details.get("error", ""))
        if result.verdict is not Verdict.OFFLINE or error == "AuthFailed":
            self._cache.record_contact(result.measured_at, "probe")  # the cloud answered
        elif error in PROBE_FAILURES:
            self._cache.record_contact(result.measured_at, "probe", PROBE_FAILURES[error],
                                       result.reason)
        # Anything else (nothing configured) made no call: it says nothing about the link.

    def latest_probe(self) -> PreflightResult | None:
        return self._history.latest_probe()
