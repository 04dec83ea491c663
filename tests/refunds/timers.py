"""Refund timers for tests: no batching delay, no follow-up pause, 1 s leases, quick retries."""

from __future__ import annotations

from datetime import timedelta

from app.core.backoff import Backoff
from app.core.refund_filing import RefundPolicy
from app.core.refund_rules import RulePolicy

FAST_RETRY = Backoff(base=0.05, cap=0.2, floor=0.01)
FAST = RefundPolicy(rules=RulePolicy(given_up_grace=timedelta(0)),
                    email_delay=timedelta(0), follow_every=timedelta(0),
                    lease=timedelta(seconds=1), retry=FAST_RETRY, operator_recheck=timedelta(0))
