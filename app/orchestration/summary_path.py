"""The event summary assembled from a Runtime: the booth's jobs, the account's usage history
and the refund claims, read from the local store only (no network), for `summary` and the
tray's Event summary window alike."""

from __future__ import annotations

from datetime import datetime

from app.adapters.store.jobs_repo import JobsRepo
from app.adapters.store.refunds_repo import RefundsRepo
from app.core.event_summary import LONGEST_EVENT, EventSummary, default_since, summarize_event
from app.runtime import Runtime, utc_now


def event_summary(runtime: Runtime, since: datetime | None = None,
                  until: datetime | None = None) -> EventSummary:
    now = utc_now()
    until = until or now
    jobs = JobsRepo(runtime.db)
    if since is None:
        since = default_since(jobs.created_times(now - LONGEST_EVENT), now)
    state = runtime.cache.load_cache()
    return summarize_event(
        jobs.jobs_since(since), runtime.cache.entries_since(since),
        RefundsRepo(runtime.db).claims(since=since), since, until,
        balance_cents=state.balance_cents, balance_as_of=state.health.confirmed_at)
