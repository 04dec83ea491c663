"""A booth for refund tests: a real Runtime on its own home folder, the real job path against a
demo cloud whose charged jobs sometimes fail, and a real SMTP server (aiosmtpd) with STARTTLS
from a test CA (trustme) and a password. Only timers are shortened."""

from __future__ import annotations

import socket
import sqlite3
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from app.adapters.store.jobs_repo import JobsRepo
from app.core.job_runner import RunPolicy
from app.core.jobs import FINAL, Job
from app.core.refund_filing import RefundPolicy
from app.democloud.images import make_png
from app.democloud.server import DemoCloud
from app.orchestration.job_engine import EngineConfig
from app.orchestration.job_path import JobPath
from app.orchestration.refund_path import RefundPath
from app.runtime import Options, Runtime
from tests.conftest import wait_until
from tests.refunds.timers import FAST, FAST_RETRY

TOKEN = "demo-token"
SMTP_USER, SMTP_PASSWORD = "booth@ops.example", "s3cret-smtp-pass"
SUPPORT = "support@cloud.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the cloud ------------------------------------------------------------------------------------


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[DemoCloud]:
    """Charged jobs fail half the time; with seed 1, three of the first six fail."""
    c = DemoCloud(tmp_path / "cloud.sqlite3", job_seconds=0.2, refund_seconds=1.0, seed=1,
                  job_failure_rate=0.5)
    c.start()
    yield c
    c.stop()


def cloud_rows(cloud: DemoCloud, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{cloud.db_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def refund_requests(cloud: DemoCloud) -> dict[str, int]:
    """The demo cloud's own table: refund requests per ledger entry."""
    return dict(cloud_rows(cloud, "SELECT ledger_entry_id, COUNT(*) FROM refund_requests"
                                  " GROUP BY ledger_entry_id"))


# -- the booth ------------------------------------------------------------------------------------


@dataclass
class Booth:
    home: Path
    runtime: Runtime
    refunds: RefundPath
    photos: int = 0

    def sync(self) -> None:
        outcome = self.runtime.refresh()
        assert outcome.ok, outcome.error

    def run_jobs(self, n: int, feature: str = "draw_me") -> None:
        """Photos dropped into the hot folder, taken in and sent by the real job path."""
        jp = JobPath(self.runtime, use_default_link=False,
                     config=EngineConfig(max_concurrent=3, lease_seconds=3, idle_seconds=0.5,
                                         probe_backoff=FAST_RETRY),
                     policy=RunPolicy(retry_budget=3, backoff=FAST_RETRY))
        try:
            folder = jp.folders.hot / feature
            folder.mkdir(parents=True, exist_ok=True)
            for _ in range(n):
                self.photos += 1
                (folder / f"guest-{self.photos:03d}.png").write_bytes(make_png(8 + self.photos,
                                                                               8))
            scanner = jp.scanner(quiet_seconds=0.0)
            taken: set[Path] = set()

            def take_ready() -> bool:
                for path, feat in scanner.scan().ready:
                    jp.intake.take(path, feat)
                    scanner.taken(path)
                    taken.add(path)
                return len(taken) >= n

            wait_until(take_ready, timeout=10)
            done = jp.drive(lambda: all(j.state in FINAL for j in jp.repo.jobs()), timeout=40)
            assert done == "done", done
        finally:
            jp.close()

    def jobs(self) -> list[Job]:
        return JobsRepo(self.runtime.db).jobs()

    def close(self) -> None:
        self.runtime.close()


def open_booth(home: Path, cloud_url: str, *, policy: RefundPolicy = FAST,
               ssl_context: ssl.SSLContext | None = None, **settings: Any) -> Booth:
    runtime = Runtime(Options(home=str(home), cloud_url=cloud_url))
    values = {"booth_name": "Booth 1", "refund_channel": "cloud", **settings}
    for key, value in values.items():
        setattr(runtime.settings, key, value)
    runtime.save_settings()
    return Booth(home, runtime, RefundPath(runtime, policy=policy, ssl_context=ssl_context))


@pytest.fixture
def booths(monkeypatch: pytest.MonkeyPatch, memory_keyring, tmp_path: Path):
    """open(**settings) -> Booth on one home folder; every booth opened is closed after."""
    monkeypatch.setenv("BOOTH_MONITOR_TOKEN", TOKEN)
    opened: list[Booth] = []
    home = tmp_path / "home"

    def open_(cloud_url: str, **kw: Any) -> Booth:
        booth = open_booth(home, cloud_url, **kw)
        opened.append(booth)
        return booth

    yield open_
    for booth in opened:
        booth.close()


# -- the mail server ------------------------------------------------------------------------------


@dataclass
class MailServer:
    host: str
    port: int
    ca_file: Path
    client_context: ssl.SSLContext
    received: list[bytes] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    drop_after_data: int = 0  # close without answering after this many messages' DATA
    controller: Controller | None = None

    def messages(self) -> list[Message]:
        return [message_from_bytes(raw, policy=default_policy) for raw in self.received]

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {"refund_channel": "email", "support_email": SUPPORT, "smtp_host": self.host,
                "smtp_port": self.port, "smtp_security": "starttls", "smtp_username": SMTP_USER,
                "smtp_from": SMTP_USER, **extra}


class _Handler:
    def __init__(self, server: MailServer):
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.server.received.append(bytes(envelope.original_content or envelope.content))
        if self.server.drop_after_data > 0:
            self.server.drop_after_data -= 1
            server.transport.abort()  # the answer never arrives: "maybe sent"
        return "250 OK queued"


def _authenticator(record: list[str]):
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() in (SMTP_USER, "booth") \
            and data.password.decode() == SMTP_PASSWORD
        record.append(f"{mechanism}:{'ok' if ok else 'refused'}")
        return AuthResult(success=ok, handled=False)
    return check


def start_mail_server(tmp_path: Path, *, starttls: bool = True, implicit_tls: bool = False
                      ) -> MailServer:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_path / f"test-ca-{free_port()}.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    mail = MailServer("127.0.0.1", free_port(), ca_file, client_ctx)
    params: dict[str, Any] = {"authenticator": _authenticator(mail.logins), "auth_required": True}
    if starttls:
        params.update(tls_context=server_ctx, require_starttls=True)
    else:
        params["auth_require_tls"] = False
    mail.controller = Controller(_Handler(mail), hostname=mail.host, port=mail.port,
                                 ssl_context=server_ctx if implicit_tls else None, **params)
    mail.controller.start()
    return mail


@pytest.fixture
def mail_server(tmp_path: Path) -> Iterator[MailServer]:
    server = start_mail_server(tmp_path)
    yield server
    assert server.controller is not None
    server.controller.stop()
