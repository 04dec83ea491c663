"""The cloud's refund-request routes (docs/cloud-api.md, 7.12 and 7.13) on top of HttpCloud.

HttpCloud turns every transport and HTTP failure into app.core.errors; this adapter adds the
document shapes and one rule: a `duplicate_claim` answer means the cloud already holds a request
for this ledger entry (filed by another booth, or by us before the local file was lost), so that
request is adopted instead of failing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from app.adapters.cloud.client import HttpCloud
from app.adapters.cloud.wire import parse_time
from app.core.errors import ProtocolError, RequestRejected
from app.core.refund_filing import RemoteRefund

ROUTE = "/v1/refund-requests"
PAGE_LIMIT = 200
MAX_PAGES = 50


class CloudRefunds:
    """`http` is a callable so a client replaced after a Settings change is picked up."""

    def __init__(self, http: Callable[[], HttpCloud]):
        self._http = http

    def file(self, key: str, body: str) -> RemoteRefund:
        """POST the stored body under the claim's key. A replay after a crash or a lost answer
        gets the same request back (200), never a second one."""
        headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
        try:
            doc = self._http().request_json("POST", ROUTE, content=body.encode(), headers=headers)
        except RequestRejected as error:
            if error.status == 409 and error.code == "duplicate_claim":
                existing = self._find(str(json.loads(body)["ledger_entry_id"]))
                if existing is not None:
                    return existing
            raise
        return _remote(doc)

    def get(self, remote_id: str) -> RemoteRefund:
        return _remote(self._http().request_json("GET", f"{ROUTE}/{quote(remote_id, safe='')}"))

    def _find(self, ledger_entry_id: str) -> RemoteRefund | None:
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"limit": PAGE_LIMIT}
            if cursor:
                params["cursor"] = cursor
            page = self._http().request_json("GET", ROUTE, params=params)
            items = page.get("refund_requests")
            if not isinstance(items, list):
                raise ProtocolError("The cloud's refund-request list is not in the expected form.")
            for item in items:
                if isinstance(item, dict) and item.get("ledger_entry_id") == ledger_entry_id:
                    return _remote(item)
            cursor = page.get("next_cursor") if isinstance(page.get("next_cursor"), str) else None
            if not page.get("has_more") or not cursor:
                return None
        return None


def _remote(doc: dict[str, Any]) -> RemoteRefund:
    rid, status, amount = doc.get("id"), doc.get("status"), doc.get("amount_cents")
    if not isinstance(rid, str) or not isinstance(status, str) or not isinstance(amount, int):
        raise ProtocolError("The cloud sent a refund request of the wrong form.")
    entry, resolution = doc.get("refund_entry_id"), doc.get("resolution")
    return RemoteRefund(
        id=rid, status=status, amount_cents=amount,
        refund_entry_id=entry if isinstance(entry, str) else None,
        resolution=resolution if isinstance(resolution, str) else None,
        updated_at=parse_time(doc.get("updated_at")),
    )
