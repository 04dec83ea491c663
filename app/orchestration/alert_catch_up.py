"""Claims filed and settled reach the phone even when the app died before queuing the notice.

The refund cycle and the account guard commit a claim's filing (the cloud or the mail server
took it) and its outcome (credits refunded, support said no, a request settled) in their own
transactions and hand the notice to the phone outbox right after. A crash in between would lose
the phone copy: the filing or outcome is committed, so no later cycle moves the claim again and
raises its notice. So after each cycle the worker reads the committed filings and outcomes of
the recent past and queues any whose alert the outbox never saw (any row at all: sent, waiting,
dropped or rate-limited counts as seen). Derived from the committed state, it cannot invent
one that did not happen, and the outbox key makes it at most once.

One filed notice names every item of one filing (a cloud pass, one email): each item keeps
which filing made it 'filed' (`filed_via`), so the notice rebuilt here is the live one, key and
all, and the two never both reach the phone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from app.adapters.store.refunds_repo import RefundsRepo
from app.adapters.store.requests_repo import RequestsRepo
from app.core.alerts import Alert
from app.core.refund_filing import Channel, filed_alert, refunded_alert, rejected_alert
from app.core.refunds import ClaimStatus
from app.core.support_requests import RequestStatus, settled_alert
from app.orchestration.request_relay import filed_notice

if TYPE_CHECKING:
    from app.runtime import Runtime

# A restart after a crash comes within minutes; older outcomes are history, not news (and a
# phone address added today must not bring yesterday's refunds).
CATCH_UP = timedelta(hours=2)


def recent_notices(runtime: Runtime, now: datetime) -> list[Alert]:
    """Filed notices first (a claim is filed before it is settled), then the settled ones."""
    return filed_notices(runtime, now) + settled_notices(runtime, now)


def filed_notices(runtime: Runtime, now: datetime) -> list[Alert]:
    """The "Refund requested" / "Support asked" notices of the filings within CATCH_UP, each
    naming the same items as the live notice of that filing, oldest first."""
    since = now - CATCH_UP
    found: list[Alert] = []
    for channel, to, claims in RefundsRepo(runtime.db).filed_batches(since):
        found.append(filed_alert(claims, Channel(channel), to))
    for channel, to, requests in RequestsRepo(runtime.db).filed_batches(since):
        found.append(filed_notice(requests, Channel(channel), to))
    return found


def settled_notices(runtime: Runtime, now: datetime) -> list[Alert]:
    """The notices of the claims and requests settled within CATCH_UP, oldest first."""
    since = now - CATCH_UP
    found: list[Alert] = []
    for claim in RefundsRepo(runtime.db).claims([ClaimStatus.REFUNDED, ClaimStatus.REJECTED]):
        if claim.updated_at is not None and claim.updated_at >= since:
            found.append(refunded_alert(claim) if claim.status is ClaimStatus.REFUNDED
                         else rejected_alert(claim))
    for req in RequestsRepo(runtime.db).requests([RequestStatus.RESOLVED,
                                                  RequestStatus.REJECTED]):
        at = req.updated_at or req.resolved_at
        if at is not None and at >= since:
            found.append(settled_alert(req))
    return found
