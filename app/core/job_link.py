"""The link as the job runner sees it: ok, slow or offline, from the bandwidth preflight."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from app.core.bandwidth import Preflight, Verdict
from app.core.errors import CloudUnreachable


class LinkVerdict(str, enum.Enum):
    OK = "ok"
    SLOW = "slow"
    OFFLINE = "offline"


@dataclass(frozen=True)
class LinkReport:
    verdict: LinkVerdict
    summary: str


class LinkCheck(Protocol):
    def check(self) -> LinkReport: ...


# Preflight failures that are about the account, not the connection (error class names).
NOT_THE_LINK = frozenset({"NotConfigured", "AuthFailed"})


class PreflightLink:
    """The bandwidth preflight as the job path sees it: a fresh enough result is reused, so a
    burst of photos costs one probe, not one per photo."""

    def __init__(self, preflight: Preflight | Callable[[], Preflight], max_age_seconds: float):
        # A factory is asked at each check, so a "needed speed" changed in Settings applies
        # to the next photo rather than after a restart.
        self._current: Callable[[], Preflight] = (
            (lambda: preflight) if hasattr(preflight, "check") else preflight)  # type: ignore
        self._max_age = max_age_seconds

    def check(self) -> LinkReport:
        result = self._current().check(self._max_age)
        if result.verdict is Verdict.OFFLINE and result.details.get("error") in NOT_THE_LINK:
            # No token, or a refused one: the check says nothing about the link. Going on lets
            # the send meet the same error, which pauses the queue for the operator, instead of
            # waiting for a link that is fine.
            return LinkReport(LinkVerdict.OK, result.reason)
        verdict = {Verdict.SLOW: LinkVerdict.SLOW, Verdict.OFFLINE: LinkVerdict.OFFLINE}.get(
            result.verdict, LinkVerdict.OK)  # marginal is sent: within the error of the probe
        if verdict is LinkVerdict.OFFLINE and result.reason:
            return LinkReport(verdict, result.reason)  # why, not a row of dashes
        return LinkReport(verdict, result.summary())


class LinkOffline(CloudUnreachable):
    """The preflight found no link before anything was sent: no retry is used up."""
