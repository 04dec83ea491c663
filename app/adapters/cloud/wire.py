"""JSON of the cloud contract (docs/cloud-api.md) to and from the core model."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, TypeVar

from app.core.errors import ProtocolError
from app.core.model import (
    Account,
    AccountStatus,
    Balance,
    EntryKind,
    FeatureInfo,
    LedgerEntry,
    LedgerPage,
    PaymentMethod,
    Plan,
)

log = logging.getLogger(__name__)

# RFC 3339 allows any number of fractional digits and "Z"; Python 3.10's fromisoformat takes
# neither, so normalise before parsing (an independent server may send either).
_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"The cloud sent a timestamp that is not text: {value!r}")
    try:
        text = value.strip().replace("z", "Z").replace("Z", "+00:00").replace(" ", "T", 1)
        text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ProtocolError(f"The cloud sent an unreadable timestamp: {value!r}") from exc
    if moment.tzinfo is None:
        raise ProtocolError(f"The cloud sent a timestamp without a time zone: {value!r}")
    return moment


def _required_time(body: dict[str, Any], key: str) -> datetime:
    moment = parse_time(body.get(key))
    if moment is None:
        raise ProtocolError(f"The cloud's answer has no '{key}'.")
    return moment


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(f"The cloud's answer has no whole-cents '{key}'.")
    return value


_E = TypeVar("_E", Plan, AccountStatus, PaymentMethod)


def _known(kind: type[_E], body: dict[str, Any], key: str, unrecognised: list[str]) -> _E:
    """The contract's rule: clients ignore what they do not know. A newer value becomes UNKNOWN
    (and is reported), so the balance and the rest of the account still refresh."""
    raw = str(body[key])
    try:
        return kind(raw)
    except ValueError:
        log.warning("account %s %r is not known to this version; kept as unknown", key, raw)
        unrecognised.append(f"{key}: {raw}")
        return kind.UNKNOWN


def account_from_json(body: dict[str, Any]) -> Account:
    unrecognised: list[str] = []
    try:
        return Account(
            email=str(body["email"]),
            plan=_known(Plan, body, "plan", unrecognised),
            status=_known(AccountStatus, body, "status", unrecognised),
            primary_payment_method=_known(PaymentMethod, body, "primary_payment_method",
                                          unrecognised),
            renews_at=parse_time(body.get("renews_at")),
            expires_at=parse_time(body.get("expires_at")),
            grace_ends_at=parse_time(body.get("grace_ends_at")),
            dashboard_url=body.get("dashboard_url"),
            unrecognised=tuple(unrecognised),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ProtocolError(
            f"The cloud's account answer is not in the expected form ({exc})."
        ) from exc


def balance_from_json(body: dict[str, Any]) -> Balance:
    last = body.get("last_entry_id")
    return Balance(balance_cents=_int(body, "balance_cents"), as_of=_required_time(body, "as_of"),
                   last_entry_id=str(last) if isinstance(last, str | int) and last != "" else None)


def features_from_json(body: dict[str, Any]) -> tuple[FeatureInfo, ...]:
    """The cloud's feature list; an item this version cannot read is left out (with a log
    line), not allowed to fail the whole refresh."""
    items = body.get("features")
    if not isinstance(items, list):
        raise ProtocolError("The cloud's feature list has no 'features' array.")
    found: list[FeatureInfo] = []
    for item in items:
        fid = item.get("id") if isinstance(item, dict) else None
        if not isinstance(fid, str) or not fid.strip() or len(fid) > 64:
            log.warning("feature list item without a usable id skipped: %r", item)
            continue
        label = item.get("label")
        price = item.get("price_cents")
        found.append(FeatureInfo(
            id=fid, label=label.strip() if isinstance(label, str) and label.strip() else fid,
            price_cents=price if isinstance(price, int) and not isinstance(price, bool)
            and price >= 0 else None))
    return tuple(found)


def entry_from_json(body: dict[str, Any]) -> LedgerEntry:
    try:
        entry_id = str(body["id"])
        raw_kind = str(body["kind"])
    except KeyError as exc:
        raise ProtocolError(f"The cloud sent a ledger entry without {exc}.") from exc
    try:
        kind = EntryKind(raw_kind)
    except ValueError:
        # A kind newer than this app must not stop the balance from syncing; its amount and
        # balance-after still count, and the description keeps what it was.
        log.warning("ledger entry %s has unknown kind %r; kept as an adjustment", entry_id,
                    raw_kind)
        kind = EntryKind.ADJUSTMENT
    return LedgerEntry(
        id=entry_id,
        timestamp=_required_time(body, "timestamp"),
        kind=kind,
        amount_cents=_int(body, "amount_cents"),
        balance_after_cents=_int(body, "balance_after_cents"),
        feature=body.get("feature"),
        job_id=body.get("job_id"),
        receipt=body.get("receipt"),
        coupon_code=body.get("coupon_code"),
        description=body.get("description"),
        refund_request_id=body.get("refund_request_id"),
    )


def ledger_page_from_json(body: dict[str, Any]) -> LedgerPage:
    entries = body.get("entries")
    cursor = body.get("next_cursor")
    if not isinstance(entries, list) or not isinstance(cursor, str):
        raise ProtocolError("The cloud's usage-history answer has no entries or cursor.")
    return LedgerPage(
        entries=[entry_from_json(e) for e in entries],
        next_cursor=cursor,
        has_more=bool(body.get("has_more", False)),
    )
