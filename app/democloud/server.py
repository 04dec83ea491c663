"""DemoCloud: the in-process runner (tests, the tray app's demo mode, the CLI).

It owns one SQLite file, a background worker and an HTTP server (http_server.py), and can be
stopped and started again on the same file without losing anything.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import threading
from pathlib import Path
from types import TracebackType

from app.democloud import billing, jobs, ledger, seed
from app.democloud.accounts import find_account
from app.democloud.clock import utcnow
from app.democloud.db import Database
from app.democloud.http_server import DemoHTTPServer
from app.democloud.ratelimit import RateLimiter
from app.democloud.runtime import Options, Runtime
from app.democloud.worker import Worker

log = logging.getLogger(__name__)


class DemoCloud:
    """A running demo cloud on a SQLite file; restarting on the same file keeps all state.

    Beyond the contract's options: `rate_limit` (requests per second per token, 0 disables) and
    `rate_burst`; `extra_tokens` (token -> email) for further accounts, each seeded with a small
    purchase; `max_running_jobs` caps concurrent processing so later jobs wait in "queued".
    """

    def __init__(
        self,
        db_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "demo-token",
        job_failure_rate: float = 0.0,
        seed: int | None = None,
        job_seconds: float = 1.0,
        refund_seconds: float = 5.0,
        rate_limit: float = 50.0,
        rate_burst: int = 100,
        extra_tokens: dict[str, str] | None = None,
        max_running_jobs: int | None = None,
    ) -> None:
        if not token:
            raise ValueError("token must not be empty")
        if not 0.0 <= job_failure_rate <= 1.0:
            raise ValueError("job_failure_rate must be between 0 and 1")
        if job_seconds < 0 or refund_seconds < 0:
            raise ValueError("job_seconds and refund_seconds must not be negative")
        if token in (extra_tokens or {}):
            raise ValueError("extra_tokens must not repeat the main token")
        self.db_path = Path(db_path)
        self.host = host
        self._port = port
        self.options = Options(
            token=token,
            extra_tokens=dict(extra_tokens or {}),
            job_failure_rate=job_failure_rate,
            seed=seed,
            job_seconds=job_seconds,
            refund_seconds=refund_seconds,
            rate_limit=rate_limit,
            rate_burst=rate_burst,
            max_running_jobs=max_running_jobs,
        )
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._db: Database | None = None
        self._worker: Worker | None = None
        self._server: DemoHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self.runtime: Runtime | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            self._stopped.clear()
            db = Database(self.db_path)
            try:
                rt = Runtime(
                    db=db,
                    options=self.options,
                    accounts_by_token=_open_accounts(db, self.options),
                    job_rng=random.Random(self.options.seed),
                    wake_worker=lambda: None,
                    limiter=RateLimiter(self.options.rate_limit, self.options.rate_burst),
                )
                jobs.resume_after_restart(rt)
                worker = Worker(rt)
                rt.wake_worker = worker.wake
                server = DemoHTTPServer((self.host, self._port), rt)
            except BaseException:
                db.close()
                raise
            worker.start()
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="democloud-http",
                daemon=True,
            )
            thread.start()
            self._db, self._worker, self._server, self._serve_thread = db, worker, server, thread
            # A restart of this object comes back on the same URL, as a real cloud would.
            self._port = server.server_address[1]
            self.runtime = rt
            log.info("demo cloud listening on %s", self.url)

    def stop(self) -> None:
        with self._lock:
            server, worker, db = self._server, self._worker, self._db
            self._server = self._worker = self._db = self._serve_thread = None
            self.runtime = None
            if server is not None:
                server.stopping = True
                server.shutdown()  # the accept loop exits within one poll interval
                server.server_close()
                server.close_connections()
            if worker is not None:
                worker.stop()
            if db is not None:
                db.close()
            self._stopped.set()

    def serve_forever(self) -> None:
        """Start if needed and block until stop() (from another thread) or Ctrl+C."""
        self.start()
        try:
            while not self._stopped.wait(0.5):  # a timed wait so Ctrl+C works on Windows too
                pass
        finally:
            self.stop()

    def __enter__(self) -> DemoCloud:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- facts for callers ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        server = self._server
        if server is None:
            raise RuntimeError("the demo cloud is not running")
        port = server.server_address[1]
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def token(self) -> str:
        return self.options.token

    def check_ledger(self) -> None:
        """Raise AssertionError unless every balance equals its ledger, entry by entry."""
        if self._db is None:
            raise RuntimeError("the demo cloud is not running")
        with self._db.read() as conn:
            for account in conn.execute("SELECT id, email, balance_cents FROM accounts"):
                running = 0
                for entry in conn.execute(
                    "SELECT id, amount_cents, balance_after_cents FROM ledger_entries"
                    " WHERE account_id = ? ORDER BY seq",
                    (account["id"],),
                ):
                    running += entry["amount_cents"]
                    if entry["balance_after_cents"] != running:
                        raise AssertionError(
                            f"{entry['id']}: balance_after {entry['balance_after_cents']}"
                            f" but the running sum is {running}"
                        )
                total = ledger.ledger_sum(conn, account["id"])
                if account["balance_cents"] != total or total != running:
                    raise AssertionError(
                        f"{account['email']}: balance {account['balance_cents']} != ledger {total}"
                    )


def _open_accounts(db: Database, options: Options) -> dict[str, int]:
    """Map tokens to accounts, seeding any account that does not exist yet."""
    now = utcnow()
    mapping: dict[str, int] = {}
    with db.tx() as conn:
        account_id = find_account(conn, seed.DEMO_EMAIL)
        if account_id is None:
            account_id = seed.seed_demo_account(conn, now)
        mapping[options.token] = account_id
        for token, email in options.extra_tokens.items():
            extra = find_account(conn, email)
            mapping[token] = (
                extra if extra is not None else seed.seed_extra_account(conn, email, now)
            )
        for known in set(mapping.values()):
            billing.backfill(conn, known)
    return mapping


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
