"""Fixtures for the demo cloud's own tests: a real server on loopback with a fresh SQLite file.

Every test that uses `cloud` ends by checking the ledger invariant (each balance equals the sum
of its ledger, entry by entry), so any scenario that breaks it fails the test that ran it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.democloud import DemoCloud

TOKEN = "demo-token"
OTHER_TOKEN = "other-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[DemoCloud]:
    demo = DemoCloud(
        tmp_path / "cloud.sqlite3",
        token=TOKEN,
        job_seconds=0.2,
        refund_seconds=0.4,
        seed=1,
        extra_tokens={OTHER_TOKEN: "other@booth.example"},
    )
    with demo:
        yield demo
        demo.check_ledger()


@pytest.fixture
def api(cloud: DemoCloud) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cloud.url, headers=AUTH, timeout=10) as client:
        yield client


def scenario(client: httpx.Client, name: str, **payload: Any) -> Any:
    response = client.post(f"/demo/scenarios/{name}", json=payload)
    assert response.status_code < 300, response.text
    return response.json()


def all_entries(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/ledger", params=query).json()
        entries += page["entries"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return entries


def balance(client: httpx.Client) -> int:
    return int(client.get("/v1/balance").json()["balance_cents"])


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers.get("x-request-id")
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["type"] == "about:blank" or "://" in body["type"]
    return body


@contextmanager
def running_cloud(db: Path, **options: Any) -> Iterator[tuple[DemoCloud, httpx.Client]]:
    """A DemoCloud with its own options and a client for the demo token; checks the ledger."""
    with DemoCloud(db, token=TOKEN, **options) as demo:
        with httpx.Client(base_url=demo.url, headers=AUTH, timeout=10) as client:
            yield demo, client
        demo.check_ledger()
