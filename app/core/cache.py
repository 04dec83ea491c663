"""The cached copy of the account: what is kept between runs and how fresh it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from app.core.model import KNOWN_FEATURES, Account, Balance, FeatureInfo, LedgerEntry


@dataclass(frozen=True)
class SyncHealth:
    """When the cloud last confirmed our copy, and how the attempts since have gone.

    `confirmed_at` is on this PC's clock (when the answer arrived), so ages never go negative
    when the booth's clock and the cloud's disagree; the cloud's own `as_of` is kept beside it.
    """

    confirmed_at: datetime | None = None
    cloud_as_of: datetime | None = None
    last_attempt_at: datetime | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    ledger_cursor: str | None = None
    # The balance includes a ledger entry the synced history does not have yet (the cloud's
    # ledger lags its balance): the figure is right, the history cannot explain it yet.
    ledger_behind: bool = False


# Failures that mean the cloud could not be reached, or answered with an outage: they make the
# link "down" for everyone. Any other answer (even a refused token) proves the link works.
CONTACT_FAILURES = ("offline", "captive_portal", "unavailable")
UNREACHABLE = ("offline", "captive_portal")


@dataclass(frozen=True)
class CloudContact:
    """How the last call to the cloud went, whoever made it (balance sync, an AI job, a
    connection check, the tray or a command-line run): one link state that every surface shows.

    `failing_since` is the first failure after the last success; `kind` is one of
    CONTACT_FAILURES while failing."""

    ok_at: datetime | None = None
    failing_since: datetime | None = None
    kind: str | None = None
    message: str | None = None
    source: str | None = None  # sync | jobs | probe

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    @property
    def unreachable(self) -> bool:
        return self.failing and self.kind in UNREACHABLE


@dataclass(frozen=True)
class CachedState:
    account: Account | None = None
    balance_cents: int | None = None
    health: SyncHealth = field(default_factory=SyncHealth)
    contact: CloudContact = field(default_factory=CloudContact)
    # The cloud's feature list as last read, else the contract's published one.
    features: tuple[FeatureInfo, ...] = KNOWN_FEATURES
    features_read_at: datetime | None = None


class CacheStore(Protocol):
    """Durable home of the cache (the SQLite adapter implements it)."""

    def load_cache(self) -> CachedState: ...

    def commit_ledger_page(self, entries: list[LedgerEntry], cursor: str) -> None: ...

    def commit_sync(self, account: Account, balance: Balance, confirmed_at: datetime, *,
                    ledger_behind: bool = False) -> None: ...

    def has_entry(self, entry_id: str) -> bool: ...

    def commit_features(self, features: tuple[FeatureInfo, ...], at: datetime) -> None: ...

    def commit_sync_failure(self, at: datetime, message: str, kind: str) -> None: ...

    def recent_entries(self, limit: int) -> list[LedgerEntry]: ...

    def record_contact(self, at: datetime, source: str, kind: str | None = None,
                       message: str | None = None) -> None:
        """kind None (or not one of CONTACT_FAILURES): the cloud answered."""
