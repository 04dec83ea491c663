"""The account guard end to end: a real demo cloud on loopback (its scenarios put the account
into each trap), a real Runtime with its SQLite file, the real SMTP server of the refund tests.
Only timers are shortened."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.core.support_requests import SupportRequest
from app.democloud.server import DemoCloud
from app.orchestration.guard_path import GuardPath
from app.orchestration.request_relay import GuardPolicy, GuardReport
from tests.refunds import conftest as refund_fixtures
from tests.refunds.conftest import TOKEN, Booth, cloud_rows
from tests.refunds.timers import FAST

# The refund tests' fixtures: a demo cloud, booths on one home, a real SMTP server.
cloud = refund_fixtures.cloud
booths = refund_fixtures.booths
mail_server = refund_fixtures.mail_server

POLICY = GuardPolicy(filing=FAST)


def scenario(demo: DemoCloud, name: str, **payload: Any) -> Any:
    response = httpx.post(f"{demo.url}/demo/scenarios/{name}", json=payload, timeout=10,
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 300, response.text
    return response.json()


def cloud_requests(demo: DemoCloud) -> list[tuple[str, str]]:
    """The demo cloud's own table: (kind, status) of every support request, oldest first."""
    return [(k, s) for k, s in cloud_rows(demo, "SELECT kind, status FROM support_requests"
                                                 " ORDER BY seq")]


class Guarded:
    """A booth with its account guard, as the tray's worker or `claims --file-now` runs it."""

    def __init__(self, booth: Booth, **kw: Any):
        self.booth = booth
        self.path = GuardPath(booth.runtime, policy=kw.pop("policy", POLICY), **kw)

    def run(self, **kw: Any) -> GuardReport:
        self.booth.sync()
        return self.path.cycle(**kw)

    def requests(self) -> list[SupportRequest]:
        return self.path.requests()


@pytest.fixture
def guarded(booths):
    def open_(cloud_url: str, *, guard: dict[str, Any] | None = None, **settings: Any
              ) -> Guarded:
        return Guarded(booths(cloud_url, **settings), **(guard or {}))
    return open_
