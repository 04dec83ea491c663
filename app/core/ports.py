"""What the core needs from the edges. Adapters implement these; tests use the real adapters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from app.core.model import Account, Balance, FeatureInfo, LedgerPage


class AccountCloud(Protocol):
    """The read side of the cloud contract used to keep the cache (docs/cloud-api.md)."""

    def get_account(self) -> Account: ...

    def get_balance(self) -> Balance: ...

    def get_ledger(
        self, *, cursor: str | None, since: datetime | None, limit: int
    ) -> LedgerPage: ...

    def get_features(self) -> tuple[FeatureInfo, ...] | None: ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class Pacer(Protocol):
    """The cloud's rate limit on the client's side (app/adapters/store/pacing_repo.py's
    SharedBucket): acquire() before every request to the cloud, hold() when it says Retry-After.
    `cancelled` ends a wait early (the request is then not sent)."""

    def acquire(self, cancelled: Callable[[], bool] = ...) -> float: ...

    def hold(self, seconds: float) -> None: ...
