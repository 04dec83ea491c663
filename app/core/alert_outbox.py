"""A phone alert waiting in the outbox, and what becomes of it when it can finally be sent.

An alert is committed before anything is sent. When the relay takes it, it is sent as it was
(fresh), sent marked late (it waited more than LATE_AFTER, typically for the link to return),
or dropped: its condition cleared meanwhile (a lasting alert of a kind that drops), or it is
older than TOO_OLD to matter. Each Apprise URL is tracked on its own (`done_targets`), so a
URL that failed is retried without repeating the ones that got it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.core.alert_routing import KIND_BY_NAME
from app.core.status import clock_text, duration_text, iso

LATE_AFTER = timedelta(minutes=2)
TOO_OLD = timedelta(hours=12)
STATES = ("waiting", "sent", "dropped", "left")  # left: another booth sends the account's


@dataclass(frozen=True)
class OutboxAlert:
    id: int
    key: str
    kind: str
    title: str
    message: str
    severity: str
    lasting: bool
    booth: str
    created_at: datetime
    state: str = "waiting"  # waiting | sent | dropped | left (to another booth: left_to)
    late: bool = False  # sent after LATE_AFTER
    reason: str = ""  # why it was dropped, or "left to <booth>"
    done_targets: frozenset[str] = field(default_factory=frozenset)  # URL ids that have it
    tries: int = 0
    last_error: str = ""
    sent_at: datetime | None = None
    left_to: str = ""  # the booth that sends the account's alerts, when it was left to it
    note: str = ""  # who sent it for the account, and why (said in the phone's copy)

    @property
    def shown_state(self) -> str:
        """What `alerts` says: sent, late (sent late), waiting, dropped."""
        return "late" if self.state == "sent" and self.late else self.state

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "kind": self.kind, "key": self.key, "title": self.title,
                "severity": self.severity, "state": self.shown_state, "reason": self.reason,
                "created_at": iso(self.created_at),
                "sent_at": iso(self.sent_at) if self.sent_at else None,
                "tries": self.tries, "last_error": self.last_error,
                "left_to": self.left_to or None, "note": self.note}


def disposition(item: OutboxAlert, active_keys: set[str], now: datetime) -> tuple[str, str]:
    """('send' | 'late' | 'drop', reason) for a waiting alert about to be sent."""
    age = now - item.created_at
    if age > TOO_OLD:
        return "drop", f"older than {duration_text(TOO_OLD.total_seconds())}"
    kind = KIND_BY_NAME.get(item.kind)
    drops = kind.drop_when_cleared if kind is not None else True
    if item.lasting and drops and item.key not in active_keys:
        return "drop", "condition cleared before it could be sent"
    return ("late" if age > LATE_AFTER else "send"), ""


def phone_text(item: OutboxAlert, now: datetime, late: bool) -> tuple[str, str]:
    """Title and body for the phone: which booth, and when it really happened if late. The
    alert's number lets anyone who sees it twice (a crash right after a send) tell it is one."""
    title = f"{item.booth}: {item.title}"
    body = item.message
    if late:
        title = f"Late — {title}"
        waited = duration_text((now - item.created_at).total_seconds())
        body += f" (Raised at {clock_text(item.created_at, now)}, {waited} ago; could not be " \
                "sent earlier.)"
    if item.note:
        body += f"\n{item.note}"
    return title, f"{body}\n— {item.booth}, alert #{item.id}"
