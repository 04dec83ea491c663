"""The contract's v1 additions (docs/cloud-api.md, section 13) on top of HttpCloud: the
payments and coupons the account guard reads, and the support-request desk it files with.

A cloud without these routes answers 404: the reads then say "not offered" (None) and the
rules they feed stay quiet; filing reports it like the refund route does, so the operator is
told to choose email. A `duplicate_request` answer means the cloud already holds a request
about this receipt or coupon (filed before the local file was lost): it is adopted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from app.adapters.cloud.client import HttpCloud
from app.adapters.cloud.wire import parse_time
from app.core.account_guard import CouponUse, Payment
from app.core.errors import ProtocolError, RequestRejected
from app.core.status import iso
from app.core.support_requests import RemoteRequest

ROUTE = "/v1/support-requests"
PAGE_LIMIT = 200
MAX_PAGES = 20


class CloudBooks:
    """`http` is a callable so a client replaced after a Settings change is picked up."""

    def __init__(self, http: Callable[[], HttpCloud]):
        self._http = http

    def payments(self, since: datetime) -> list[Payment] | None:
        items = self._all("/v1/payments", "payments", since)
        return None if items is None else [_payment(d) for d in items]

    def coupons(self, since: datetime) -> list[CouponUse] | None:
        items = self._all("/v1/coupons", "coupons", since)
        return None if items is None else [_coupon(d) for d in items]

    def _all(self, route: str, field: str, since: datetime) -> list[dict[str, Any]] | None:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"limit": PAGE_LIMIT, "since": iso(since) or ""}
            if cursor:
                params["cursor"] = cursor
            try:
                page = self._http().request_json("GET", route, params=params)
            except RequestRejected as error:
                if error.status == 404:
                    return None  # this cloud does not offer it
                raise
            items = page.get(field)
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ProtocolError(f"The cloud's {field} answer is not in the expected form.")
            out += items
            cursor = page.get("next_cursor") if isinstance(page.get("next_cursor"), str) else None
            if not page.get("has_more") or not cursor:
                break
        return out


class CloudSupport:
    """The desk OutboxRelay files support requests with."""

    def __init__(self, http: Callable[[], HttpCloud]):
        self._http = http

    def file(self, key: str, body: str) -> RemoteRequest:
        headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
        try:
            doc = self._http().request_json("POST", ROUTE, content=body.encode(),
                                            headers=headers)
        except RequestRejected as error:
            if error.status == 409 and error.code in ("duplicate_request", "duplicate_claim"):
                existing = self._find(json.loads(body))
                if existing is not None:
                    return existing
            raise
        return _remote(doc)

    def get(self, remote_id: str) -> RemoteRequest:
        return _remote(self._http().request_json("GET", f"{ROUTE}/{quote(remote_id, safe='')}"))

    def _find(self, body: dict[str, Any]) -> RemoteRequest | None:
        """The request the cloud already holds about the same receipt or coupon code."""
        cursor: str | None = None
        found = None
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"limit": PAGE_LIMIT}
            if cursor:
                params["cursor"] = cursor
            page = self._http().request_json("GET", ROUTE, params=params)
            items = page.get("support_requests")
            if not isinstance(items, list):
                raise ProtocolError("The cloud's support-request list is not in the expected "
                                    "form.")
            for item in items:
                if isinstance(item, dict) and _same_subject(item, body):
                    found = _remote(item)
            cursor = page.get("next_cursor") if isinstance(page.get("next_cursor"), str) else None
            if not page.get("has_more") or not cursor:
                break
        return found


def _same_subject(item: dict[str, Any], body: dict[str, Any]) -> bool:
    if item.get("kind") != body.get("kind"):
        return False
    if body.get("receipt"):
        return bool(item.get("receipt") == body["receipt"])
    code = str(body.get("coupon_code") or "").lower()
    return bool(code) and str(item.get("coupon_code") or "").lower() == code


def _payment(doc: dict[str, Any]) -> Payment:
    receipt, amount, outcome = doc.get("receipt"), doc.get("amount_cents"), doc.get("outcome")
    paid = parse_time(doc.get("paid_at"))
    if not isinstance(receipt, str) or not isinstance(amount, int) or paid is None:
        raise ProtocolError("The cloud sent a payment of the wrong form.")
    entry = doc.get("ledger_entry_id")
    return Payment(receipt, amount, paid, outcome if isinstance(outcome, str) else "unknown",
                   entry if isinstance(entry, str) else None)


def _coupon(doc: dict[str, Any]) -> CouponUse:
    code, bonus = doc.get("code"), doc.get("bonus_cents")
    applied = parse_time(doc.get("applied_at"))
    if not isinstance(code, str) or not isinstance(bonus, int) or applied is None:
        raise ProtocolError("The cloud sent a coupon of the wrong form.")
    entry = doc.get("ledger_entry_id")
    return CouponUse(code, applied, bonus, entry if isinstance(entry, str) else None)


def _remote(doc: dict[str, Any]) -> RemoteRequest:
    rid, status = doc.get("id"), doc.get("status")
    if not isinstance(rid, str) or not isinstance(status, str):
        raise ProtocolError("The cloud sent a support request of the wrong form.")
    resolution, credited = doc.get("resolution"), doc.get("credited_entry_id")
    return RemoteRequest(id=rid, status=status,
                         resolution=resolution if isinstance(resolution, str) else None,
                         credited_entry_id=credited if isinstance(credited, str) else None,
                         updated_at=parse_time(doc.get("updated_at")))
