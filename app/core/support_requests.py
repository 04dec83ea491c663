"""Requests to support: one per money trap that needs support (app.core.account_guard).

A request is written durably, with its idempotency key made once here and its trap's key
UNIQUE, before anything is sent; after that it only moves forward:

    pending ──► filed ──► acknowledged ──► resolved
       │          └──────────┴──────────► rejected ──► resolved (the credits came after all)
       └─► withdrawn (the trap cleared before anything was sent: the credits arrived)

It is followed until resolved: the cloud says so, or the account shows it (the purchase or the
bonus reached the ledger, the account is open again, the disputed credits came back).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.core.account_guard import Books, Trap, TrapKind, mismatch_key
from app.core.alerts import Alert
from app.core.model import AccountStatus, EntryKind
from app.core.money import dollars
from app.core.status import iso


class RequestStatus(str, enum.Enum):
    PENDING = "pending"
    FILED = "filed"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


_S = RequestStatus
OPEN = frozenset({_S.PENDING, _S.FILED, _S.ACKNOWLEDGED})
TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    _S.PENDING: frozenset({_S.FILED, _S.ACKNOWLEDGED, _S.RESOLVED, _S.REJECTED, _S.WITHDRAWN}),
    _S.FILED: frozenset({_S.ACKNOWLEDGED, _S.RESOLVED, _S.REJECTED}),
    _S.ACKNOWLEDGED: frozenset({_S.RESOLVED, _S.REJECTED}),
    _S.REJECTED: frozenset({_S.RESOLVED}),  # the ledger is the proof
    _S.RESOLVED: frozenset(),
    _S.WITHDRAWN: frozenset(),
}
# The cloud's words (docs/cloud-api.md, 13.3) in ours.
CLOUD_STATUS = {"received": _S.FILED, "under_review": _S.ACKNOWLEDGED,
                "resolved": _S.RESOLVED, "rejected": _S.REJECTED}
FILED_KINDS = (TrapKind.MISSING_PURCHASE, TrapKind.MISSING_COUPON_BONUS,
               TrapKind.BALANCE_DISPUTE, TrapKind.ACCOUNT_RESTORE)
KIND_WORDS = {TrapKind.MISSING_PURCHASE.value: "Purchase not credited",
              TrapKind.MISSING_COUPON_BONUS.value: "Coupon bonus missing",
              TrapKind.BALANCE_DISPUTE.value: "Balance dispute",
              TrapKind.ACCOUNT_RESTORE.value: "Account restore"}
# A balance that disagrees with the usage history is re-keyed by every new entry; while one
# such dispute is open, another is not filed.
MISMATCH_PREFIX = "balance:"


@dataclass(frozen=True)
class RemoteRequest:
    """A support request as the cloud holds it."""

    id: str
    status: str  # received | under_review | resolved | rejected
    resolution: str | None = None
    credited_entry_id: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class SupportRequest:
    id: str
    kind: str  # a TrapKind value among FILED_KINDS
    trap_key: str  # one request per trap, ever
    title: str
    message: str
    idempotency_key: str
    created_at: datetime
    facts: Mapping[str, Any] = field(default_factory=dict)
    at_risk_cents: int = 0
    status: RequestStatus = RequestStatus.PENDING
    updated_at: datetime | None = None
    hold_until: datetime | None = None  # a dispute waits this long for its screenshot
    filed_at: datetime | None = None
    channel: str | None = None
    remote_id: str | None = None
    resolution: str | None = None
    credited_entry_id: str | None = None
    resolved_at: datetime | None = None
    screenshot: bytes | None = None  # a PNG of the balance, rendered by the tray app

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


def new_request(trap: Trap, now: datetime, *, hold: timedelta = timedelta(0)
                ) -> SupportRequest:
    return SupportRequest(
        id=f"sr-{uuid.uuid4().hex[:12]}", kind=trap.kind.value, trap_key=trap.key,
        title=trap.title, message=trap.message,
        # Random, made once: a re-send after a crash reuses it (see app.core.refunds).
        idempotency_key=f"bcm-support-{uuid.uuid4()}", created_at=now, facts=dict(trap.facts),
        at_risk_cents=trap.at_risk_cents,
        hold_until=now + hold if hold and trap.kind is TrapKind.BALANCE_DISPUTE else None)


def to_file(traps: Iterable[Trap], known_keys: set[str], open_keys: set[str], *,
            ledger_agrees: bool = True) -> list[Trap]:
    """The traps that become a new request now (known_keys: every request ever made).

    A deduction or a broken chain is only disputed while the synced history explains the
    balance (`ledger_agrees`): otherwise an entry is still on its way (the balance was read
    after the ledger page), and it may be the very credit that settles it."""
    mismatch_open = any(k.startswith(MISMATCH_PREFIX) for k in open_keys)
    found = []
    for trap in traps:
        if not trap.file or trap.kind not in FILED_KINDS or trap.key in known_keys:
            continue
        if not ledger_agrees and trap.key.startswith(("deduction:", "chain:")):
            continue
        if trap.key.startswith(MISMATCH_PREFIX):
            if mismatch_open:
                continue
            mismatch_open = True
        found.append(trap)
    return found


@dataclass(frozen=True)
class Settled:
    request_id: str
    status: RequestStatus
    resolution: str
    credited_entry_id: str | None = None


def reconcile(requests: Sequence[SupportRequest], books: Books,
              attempted: frozenset[str] | set[str] = frozenset()) -> list[Settled]:
    """Open (and rejected) requests the account itself now shows as settled; a pending one is
    withdrawn instead (nothing needs to be sent any more), unless a filing of it was attempted
    (`attempted`): it may have reached support, which may be what settled it."""
    out = []
    for req in requests:
        if req.status not in OPEN and req.status is not RequestStatus.REJECTED:
            continue
        found = _settled_by(req, books)
        if found is None:
            continue
        text, entry_id = found
        if req.status is RequestStatus.PENDING and req.id not in attempted:
            out.append(Settled(req.id, RequestStatus.WITHDRAWN, f"{text} before the request "
                               "was sent; nothing to ask.", entry_id))
        else:
            out.append(Settled(req.id, RequestStatus.RESOLVED, f"{text}.", entry_id))
    return out


def _settled_by(req: SupportRequest, books: Books) -> tuple[str, str | None] | None:
    facts = req.facts
    if req.kind == TrapKind.MISSING_PURCHASE.value:
        receipt = facts.get("receipt")
        entry = next((e for e in books.entries if e.kind is EntryKind.PURCHASE
                      and e.receipt == receipt), None)
        pay = next((p for p in books.payments if p.receipt == receipt), None)
        entry_id = entry.id if entry else (pay.ledger_entry_id if pay else None)
        return ("The purchase reached the balance", entry_id) if entry_id else None
    if req.kind == TrapKind.MISSING_COUPON_BONUS.value:
        code = str(facts.get("coupon_code", "")).lower()
        entry = next((e for e in books.entries if e.kind is EntryKind.COUPON_BONUS
                      and (e.coupon_code or "").lower() == code), None)
        use = next((c for c in books.coupons if c.code.lower() == code
                    and iso(c.applied_at) == facts.get("subscription_date")), None)
        entry_id = entry.id if entry else (use.ledger_entry_id if use else None)
        return ("The coupon's bonus credits arrived", entry_id) if entry_id else None
    if req.kind == TrapKind.ACCOUNT_RESTORE.value:
        acct = books.account
        if acct is not None and acct.status is not AccountStatus.CLOSED:
            return "The account is open again", None
        return None
    if req.trap_key.startswith(MISMATCH_PREFIX):
        if books.entries and mismatch_key(books) is None:
            return "The usage history explains the balance now", None
        return None
    # A dispute is settled by the credits coming back: a credit of the disputed amount,
    # recorded after the request was made.
    if req.at_risk_cents <= 0:
        return None
    back = next((e for e in books.entries if e.amount_cents == req.at_risk_cents
                 and e.kind in (EntryKind.ADJUSTMENT, EntryKind.REFUND)
                 and e.timestamp >= req.created_at - timedelta(minutes=5)), None)
    return ("The disputed credits came back", back.id) if back else None


# -- what the operator sees ---------------------------------------------------------------------


def trap_alert(trap: Trap) -> Alert:
    """A trap, for as long as it lasts (the window lists it; the tray notifies once)."""
    return Alert(key=f"trap:{trap.key}", title=trap.title, message=trap.message,
                 severity=trap.severity, lasting=True)


def filed_alert(requests: Sequence[SupportRequest], how: str) -> Alert:
    n = len(requests)
    what = ", ".join(KIND_WORDS.get(r.kind, r.kind).lower() for r in requests)
    return Alert(key=f"support-filed:{','.join(sorted(r.id for r in requests))}",
                 title="Support asked" if n == 1 else f"{n} requests to support",
                 message=f"Sent {how}: {what}. The monitor follows it until it is settled.",
                 severity="info")


def settled_alert(req: SupportRequest) -> Alert:
    word = KIND_WORDS.get(req.kind, req.kind)
    if req.status is RequestStatus.REJECTED:
        return Alert(key=f"support-rejected:{req.id}", title=f"{word}: support said no",
                     message=req.resolution or "No reason given.")
    money = f" ({dollars(req.at_risk_cents)})" if req.at_risk_cents else ""
    return Alert(key=f"support-resolved:{req.id}", title=f"{word}: settled",
                 message=f"{req.resolution or 'Support settled it.'}{money}", severity="info")


def problem_alert(channel: str, kind: str, message: str, waiting: int, hint: str) -> Alert:
    return Alert(key=f"support-problem:{channel}:{kind}", title="Requests to support not sent",
                 message=f"{waiting} request{'s' if waiting != 1 else ''} waiting. {message} "
                 f"{hint}", severity="warning")


# Field order of `claims --json` for support requests and the window's tooltip.
FIELDS = ("id", "kind", "status", "title", "message", "at_risk_cents", "created_at",
          "filed_at", "channel", "remote_id", "resolution", "credited_entry_id", "resolved_at",
          "trap_key")


def request_json(req: SupportRequest) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(req, name)
        doc[name] = iso(value) if isinstance(value, datetime) else (
            value.value if isinstance(value, enum.Enum) else value)
    doc["facts"] = dict(req.facts)
    doc["screenshot"] = req.screenshot is not None
    return doc
