"""One refresh of the cached account: account, balance and the new part of the usage history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.core.cache import CacheStore
from app.core.errors import (
    AuthFailed,
    CaptivePortal,
    CloudUnavailable,
    CloudUnreachable,
    MonitorError,
    ProtocolError,
)
from app.core.model import LedgerEntry
from app.core.ports import AccountCloud, Clock

# The first sync of a new cache reads this far back; later syncs resume from the cursor.
FIRST_SYNC_WINDOW = timedelta(days=90)
PAGE_SIZE = 200
# A refresh stops paging after this many pages and resumes next time, so a huge backlog can
# never make one refresh hold the link for minutes.
MAX_PAGES_PER_REFRESH = 25
# A ledger behind its balance usually catches up within seconds (a replica, a queue): look
# again this soon rather than at the next regular refresh minutes away.
LEDGER_FOLLOW_UP_SECONDS = 15.0
# Features change with a vendor release, not by the minute: read the list this often.
FEATURES_EVERY = timedelta(hours=6)


def error_kind(error: MonitorError) -> str:
    """A stable word for the kind of failure, stored with it and shown as `--json` fields."""
    if isinstance(error, CaptivePortal):
        return "captive_portal"
    if isinstance(error, CloudUnreachable):
        return "offline"
    if isinstance(error, AuthFailed):
        return "auth"
    if isinstance(error, CloudUnavailable):
        return "unavailable"
    if isinstance(error, ProtocolError):
        return "protocol"
    return "error"


@dataclass(frozen=True)
class SyncOutcome:
    ok: bool
    new_entries: list[LedgerEntry] = field(default_factory=list)
    error: MonitorError | None = None
    ledger_behind: bool = False  # look again soon (LEDGER_FOLLOW_UP): the history lags

    @property
    def retry_after(self) -> float | None:
        return self.error.retry_after if self.error else None


class SyncService:
    def __init__(self, cloud: AccountCloud, store: CacheStore, clock: Clock):
        self._cloud = cloud
        self._store = store
        self._clock = clock

    def refresh(self) -> SyncOutcome:
        """Sync once. Expected failures are recorded in the store and returned, not raised;
        a StorageError (our own disk) is raised, since recording it would fail too."""
        started = self._clock()
        try:
            # The balance first: its `last_entry_id` then names an entry the ledger fetched
            # after it must already hold, so a ledger that does not is known to lag (fetched
            # the other way round, an entry recorded in between would look like a gap).
            account = self._cloud.get_account()
            balance = self._cloud.get_balance()
            new_entries = self._sync_ledger(started)
            self._sync_features(started)
        except MonitorError as error:
            if isinstance(error, CloudUnreachable | CloudUnavailable | AuthFailed | ProtocolError):
                # The stored text is what the operator reads later: message and what to do.
                self._store.commit_sync_failure(self._clock(), str(error), error_kind(error))
                return SyncOutcome(ok=False, error=error)
            raise
        behind = (balance.last_entry_id is not None
                  and not self._store.has_entry(balance.last_entry_id))
        self._store.commit_sync(account, balance, self._clock(), ledger_behind=behind)
        return SyncOutcome(ok=True, new_entries=new_entries, ledger_behind=behind)

    def _sync_features(self, now: datetime) -> None:
        state = self._store.load_cache()
        read_at = state.features_read_at
        if read_at is not None and timedelta(0) <= now - read_at < FEATURES_EVERY:
            return
        features = self._cloud.get_features()
        # A cloud without the list (404), or one listing nothing this version can read,
        # keeps what we had: offering no feature at all would stop every job.
        self._store.commit_features(features or state.features, now)

    def _sync_ledger(self, now: datetime) -> list[LedgerEntry]:
        cursor = self._store.load_cache().health.ledger_cursor
        since = None if cursor else now - FIRST_SYNC_WINDOW
        fetched: list[LedgerEntry] = []
        for _ in range(MAX_PAGES_PER_REFRESH):
            page = self._cloud.get_ledger(cursor=cursor, since=since, limit=PAGE_SIZE)
            # Each page is committed with its cursor, so an outage mid-way loses nothing and
            # the next refresh resumes where this one stopped.
            self._store.commit_ledger_page(page.entries, page.next_cursor)
            fetched.extend(page.entries)
            cursor, since = page.next_cursor, None
            if not page.has_more:
                break
        return fetched
