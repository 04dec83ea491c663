"""The composition root: builds the adapters once and hands the core what it needs.

The command line and the tray app both start here, so `status --json` and the tray icon can never
disagree about where files live, which cloud is used or how the token is found.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from app.adapters.cloud.client import HttpCloud
from app.adapters.store import Database
from app.adapters.store.cache_repo import CacheRepo
from app.adapters.system.logs import register_secret, setup_logging
from app.adapters.system.paths import AppPaths, resolve_paths
from app.adapters.system.secrets import SecretStore
from app.adapters.system.settings_file import Settings, load_settings, save_settings
from app.core.errors import NotConfigured
from app.core.status import StatusView, ViewSettings, build_view
from app.core.sync import SyncOutcome, SyncService

if TYPE_CHECKING:
    from app.adapters.store.probes_repo import ProbesRepo
    from app.core.bandwidth import Preflight, PreflightResult
    from app.democloud.server import DemoCloud

log = logging.getLogger(__name__)

CLOUD_ENV = "BOOTH_MONITOR_CLOUD_URL"
DEMO_TOKEN = "demo-token"
DEMO_LABEL = "embedded demo cloud"


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
        # The tray's monitor and job workers share one runtime: one client, made once.
        self._cloud_lock = threading.RLock()

    # -- which cloud ---------------------------------------------------------------------------

    @property
    def cloud_url(self) -> str:
        if self.options.demo:
            return self._demo.url if self._demo else DEMO_LABEL
        return (self.options.cloud_url or os.environ.get(CLOUD_ENV) or self.settings.cloud_url
                ).rstrip("/")

    def start_demo_cloud(self) -> DemoCloud:
        """The demo cloud runs in this process on an ephemeral loopback port; its ledger lives
        in the demo profile's data folder so the demo account survives restarts too."""
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

    def _make_cloud(self) -> HttpCloud:
        if self._cloud is None:
            if self.options.demo:
                self._cloud = HttpCloud(self.start_demo_cloud().url, DEMO_TOKEN)
            else:
                url = self.cloud_url
                if not url:
                    raise NotConfigured(
                        "No cloud URL is set.",
                        hint="Use --cloud URL, BOOTH_MONITOR_CLOUD_URL or Settings.",
                    )
                token = self.secrets.get_token(url).value
                register_secret(token)
                self._cloud = HttpCloud(url, token)
        return self._cloud

    def reset_cloud(self) -> None:
        """Forget the client after Settings changed the URL or token."""
        with self._cloud_lock:
            if self._cloud is not None:
                self._cloud.close()
                self._cloud = None

    # -- what the operator sees ----------------------------------------------------------------

    def view_settings(self) -> ViewSettings:
        return ViewSettings(cloud_url=self.cloud_url,
                            low_balance_cents=self.settings.low_balance_cents)

    def view(self) -> StatusView:
        return build_view(self.cache.load_cache(), utc_now(), self.view_settings())

    def refresh(self) -> SyncOutcome:
        return SyncService(self.cloud(), self.cache, utc_now).refresh()

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
            cached = Preflight(HttpBandwidthProbe(endpoint), history, utc_now,
                               ProbePolicy(threshold_mbps=threshold), monotonic=time.monotonic)
            self._preflight = cached
        return cached

    def save_settings(self) -> None:
        save_settings(self.paths.settings_file, self.settings)

    def close(self) -> None:
        if self._cloud is not None:
            self._cloud.close()
        if self._demo is not None and self._owns_demo:
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
