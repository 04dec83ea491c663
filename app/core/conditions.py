"""The operator's vocabulary: each condition the monitor can be in, defined once with its words,
colour and symbol, and one assessment that every surface renders.

The tray icon shows the worst active condition; the tooltip, the menu, the window and
`status` list every one, in the same words. Exactly one of CURRENT, NOT_CURRENT and OFFLINE is
always active (how far the balance can be trusted); the others come and go on top of it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.account_guard import Trap, TrapKind
from app.core.bandwidth import PreflightResult, Verdict
from app.core.cloud_address import sends_token_in_clear
from app.core.jobs import JobState, QueueCounts
from app.core.model import Account, AccountStatus
from app.core.money import dollars
from app.core.status import StatusView, age_text, clock_text
from app.core.support_requests import SupportRequest
from app.core.trap_line import open_traps, progress, restore_line, what

# A slow reading says something about the venue link for a while, not forever: after this the
# icon stops claiming the link is slow until the next check (before the next job) says so again.
SLOW_LINK_MEMORY = timedelta(minutes=10)


class Condition(str, enum.Enum):
    NEEDS_ATTENTION = "needs_attention"
    OFFLINE = "offline"
    NOT_CURRENT = "not_current"
    SLOW_LINK = "slow_link"
    LOW_BALANCE = "low_balance"
    UNENCRYPTED = "unencrypted"
    CURRENT = "current"


@dataclass(frozen=True)
class Look:
    words: str  # the pill, the tooltip's first line, `status`
    colour: str
    symbol: str  # inside the tray disc, so greyscale trays and colour-blind eyes tell them apart
    severity: str  # for notifications: info | warning | critical


# Worst first: the order decides which one the icon shows.
LOOKS: dict[Condition, Look] = {
    Condition.NEEDS_ATTENTION: Look("NEEDS ATTENTION", "#d93a2f", "!", "critical"),
    Condition.OFFLINE: Look("OFFLINE", "#6b7079", "×", "warning"),
    Condition.NOT_CURRENT: Look("NOT CURRENT", "#8a8f98", "?", "warning"),
    Condition.SLOW_LINK: Look("SLOW LINK", "#7a4fc9", "~", "warning"),
    Condition.LOW_BALANCE: Look("LOW BALANCE", "#c98a00", "¢", "warning"),
    # The operator opted in to plain http:// off this PC: shown for as long as it lasts.
    Condition.UNENCRYPTED: Look("UNENCRYPTED", "#a0522d", "⊘", "warning"),
    Condition.CURRENT: Look("CURRENT", "#2e9d4f", "$", "info"),
}
RANK = {condition: rank for rank, condition in enumerate(LOOKS)}


@dataclass(frozen=True)
class Finding:
    condition: Condition
    line: str  # one short sentence in operator words: menu, tooltip, window, CLI
    detail: str = ""  # the technical part (host, HTTP status): the log and "Details"
    key: str = ""  # stable while the condition lasts (several NEEDS_ATTENTION may be active)

    @property
    def look(self) -> Look:
        return LOOKS[self.condition]


@dataclass(frozen=True)
class Assessment:
    findings: tuple[Finding, ...]  # worst first
    balance: str  # "$84.70" or "balance unknown"
    age: str  # always the age of the last confirmation by the cloud

    @property
    def worst(self) -> Condition:
        return self.findings[0].condition

    @property
    def look(self) -> Look:
        return LOOKS[self.worst]

    def has(self, condition: Condition) -> bool:
        return any(f.condition is condition for f in self.findings)

    @property
    def freshness(self) -> Finding:
        """The one of CURRENT / NOT_CURRENT / OFFLINE that is active."""
        return next(f for f in self.findings if f.condition in FRESHNESS)

    def words(self) -> str:
        """'OFFLINE', or 'NEEDS ATTENTION + OFFLINE + LOW BALANCE' when several are active."""
        return " + ".join(f.look.words for f in _distinct(self.findings))

    def to_json(self) -> dict[str, object]:
        return {"state": self.worst.value,
                "conditions": [{"condition": f.condition.value, "text": f.line,
                                "detail": f.detail or None} for f in self.findings]}


FRESHNESS = (Condition.CURRENT, Condition.NOT_CURRENT, Condition.OFFLINE)


def assess(view: StatusView, now: datetime, *, link: PreflightResult | None = None,
           queue: QueueCounts | None = None, threshold_mbps: float = 5.0,
           traps: Sequence[Trap] = (), requests: Sequence[SupportRequest] = ()) -> Assessment:
    """`traps`: the account guard's findings, `requests`: its requests to support (how far
    each is). An open money trap needs attention until support settles it, whoever files it;
    the countdown of a plan that will not renew is something only the operator can act on (a
    lapsed plan has its own line below)."""
    findings = [*_attention(view, queue), _freshness(view, now)]
    findings += _trap_findings(view, traps, requests, findings, now)
    acct = view.account
    for trap in traps:
        if trap.kind is TrapKind.PLAN_ENDING and acct and acct.status is AccountStatus.ACTIVE:
            findings.append(Finding(
                Condition.NEEDS_ATTENTION, f"{trap.title}: the plan will not renew; downgrade "
                f"to Pay-As-You-Go to keep {dollars(trap.at_risk_cents)}", trap.message,
                key="attention:plan_ending"))
    slow = _slow_link(link, queue, now, threshold_mbps)
    if slow is not None:
        findings.append(slow)
    if view.low_balance and view.balance_cents is not None and view.balance_cents > 0:
        findings.append(Finding(
            Condition.LOW_BALANCE,
            f"Low balance: {dollars(view.balance_cents)}, below "
            f"{dollars(view.low_balance_cents)}; all booths share it",
            key="low_balance"))
    if sends_token_in_clear(view.cloud_url):
        findings.append(Finding(
            Condition.UNENCRYPTED, "Unencrypted: the API token and the photos cross the "
            "network in the clear (plain http:// allowed in settings.json)",
            "Use an https:// address and remove allow_insecure_http to end this.",
            key="unencrypted"))
    findings.sort(key=lambda f: RANK[f.condition])
    current = not view.stale
    return Assessment(tuple(findings), view.balance_text(),
                      age_text(view.as_of, now, current=current))


def link_is_slow(result: PreflightResult | None, now: datetime) -> bool:
    """The last bandwidth check found the link below the threshold, recently enough to matter.
    'Marginal' is not slow: jobs still go, and the icon must not cry wolf at 4.9 Mbps."""
    return (result is not None and result.verdict is Verdict.SLOW
            and now - result.measured_at <= SLOW_LINK_MEMORY)


def link_line(result: PreflightResult | None, view: StatusView, now: datetime) -> str:
    """The connection in one line, never contradicting the link state: a speed measured before
    the cloud went away is labelled as such."""
    if view.offline and view.contact.failing_since is not None:
        since = clock_text(view.contact.failing_since, now)
        return f"Connection: no cloud since {since}" + (
            f" (last speed check {clock_text(result.measured_at, now)})" if result else "")
    if result is None:
        return "Connection not checked yet"
    when = clock_text(result.measured_at, now)
    if result.verdict is Verdict.OFFLINE:
        return f"Connection check at {when} found no cloud"
    parts = [f"up {result.upload_mbps:.1f}" if result.upload_mbps is not None else "",
             f"down {result.download_mbps:.1f}" if result.download_mbps is not None else ""]
    rates = ", ".join(p for p in parts if p) or "no rate"
    verdict = {Verdict.OK: "fast enough", Verdict.MARGINAL: "borderline",
               Verdict.SLOW: "too slow for AI"}.get(result.verdict, result.verdict.value)
    return f"Connection {verdict}: {rates} Mbps at {when}"


# -- the findings -------------------------------------------------------------------------------


def _freshness(view: StatusView, now: datetime) -> Finding:
    contact = view.contact
    if view.offline and contact.failing_since is not None:
        since = clock_text(contact.failing_since, now)
        if contact.kind == "captive_portal":
            return Finding(Condition.OFFLINE,
                           f"Offline since {since}: a Wi-Fi login page is in the way",
                           contact.message or "", key="offline")
        return Finding(Condition.OFFLINE, f"Offline since {since}: the cloud cannot be reached",
                       contact.message or "", key="offline")
    if view.stale:
        if view.as_of is None:
            return Finding(Condition.NOT_CURRENT, "Not current: no balance from the cloud yet",
                           view.last_error or "", key="not_current")
        since = clock_text(view.stale_since or view.as_of, now)
        why = ("the cloud is not answering properly" if view.error_kind == "unavailable"
               else "the cloud refused the token" if view.error_kind == "auth"
               else "the last refresh failed" if view.last_error
               else "not refreshed recently")
        return Finding(Condition.NOT_CURRENT, f"Not current since {since}: {why}",
                       view.last_error or "", key="not_current")
    if view.ledger_behind:
        # The figure is the cloud's and current; what lags is the history that explains it,
        # so "current" alone would overstate what the monitor can vouch for.
        return Finding(Condition.CURRENT, "Current balance; its usage history is still "
                       "catching up (checking again in a few seconds)", key="current")
    return Finding(Condition.CURRENT, "Current: confirmed by the cloud", key="current")


def _attention(view: StatusView, queue: QueueCounts | None) -> list[Finding]:
    """Things only the operator can fix; retrying on our own will not."""
    found = []
    if view.error_kind == "auth" or (queue and queue.pause and queue.pause.kind == "auth"):
        found.append(Finding(Condition.NEEDS_ATTENTION,
                             "Token refused: enter a new API token in Settings",
                             view.last_error or "", key="attention:auth"))
    acct = view.account
    if acct is not None and acct.status is not AccountStatus.ACTIVE:
        found.append(_account_finding(view, acct.status))
    if view.balance_cents is not None and view.balance_cents <= 0:
        found.append(Finding(Condition.NEEDS_ATTENTION,
                             "No credits left: AI is paused until you buy credits",
                             key="attention:no_credits"))
    elif queue and queue.pause and queue.pause.kind == "credits":
        found.append(Finding(Condition.NEEDS_ATTENTION,
                             f"AI paused, {queue.open} photo{'s' if queue.open != 1 else ''} "
                             "waiting: not enough credits", queue.pause.message,
                             key="attention:credits"))
    return found


def _trap_findings(view: StatusView, traps: Sequence[Trap], requests: Sequence[SupportRequest],
                   findings: list[Finding], now: datetime) -> list[Finding]:
    """One line per open money trap, in the tray's words. A closed account already has its
    line: the guard's restore request rewrites it (one voice) instead of adding a second."""
    acct = view.account
    closed = acct is not None and acct.status is AccountStatus.CLOSED
    by_key = {r.trap_key: r for r in requests}
    found = []
    for trap in traps:
        if trap.kind is TrapKind.ACCOUNT_RESTORE and closed:
            key = f"attention:{AccountStatus.CLOSED.value}"
            line = restore_line(by_key.get(trap.key), now)
            findings[:] = [Finding(Condition.NEEDS_ATTENTION, line, trap.message, key=key)
                           if f.key == key else f for f in findings]
    for trap, req in open_traps(traps, requests):
        if trap.kind is TrapKind.ACCOUNT_RESTORE and closed:
            continue  # said above, in the account's own line
        found.append(Finding(Condition.NEEDS_ATTENTION, f"{what(trap)} — {progress(req, now)}",
                             trap.message, key=f"attention:trap:{trap.key}"))
    return found


def _account_finding(view: StatusView, status: AccountStatus) -> Finding:
    acct = view.account
    assert acct is not None
    ends = acct.grace_ends_at
    by = f" by {ends.astimezone():%d %b}" if ends else ""
    keep = f" to keep {view.balance_text()}" if view.balance_cents else ""
    line = {
        AccountStatus.SUSPENDED: f"Account suspended: reactivate it{by}{keep}",
        AccountStatus.EXPIRED: f"Plan expired: downgrade to Pay-As-You-Go{by}{keep}",
        AccountStatus.CLOSED: "Account closed: contact support now to restore credits",
    }.get(status, _unknown_status_line(acct))
    detail = {
        AccountStatus.SUSPENDED: "A payment failed. Credits stay while you reactivate within the "
        "30-day grace period.",
        AccountStatus.EXPIRED: "When the grace period ends without a downgrade, the account "
        "closes and every credit is removed. Pay-As-You-Go keeps them.",
        AccountStatus.CLOSED: "Support can sometimes restore credits if asked within days.",
    }.get(status, "")
    return Finding(Condition.NEEDS_ATTENTION, line, detail, key=f"attention:{status.value}")


def _unknown_status_line(acct: Account) -> str:
    raw = next((v.split(": ", 1)[1] for v in acct.unrecognised if v.startswith("status: ")),
               acct.status.value)
    return f"Account status '{raw}' is new to this version: check the cloud dashboard"


def _slow_link(link: PreflightResult | None, queue: QueueCounts | None, now: datetime,
               threshold_mbps: float) -> Finding | None:
    held = queue.count(JobState.HELD) if queue else 0
    slow = link_is_slow(link, now)
    if not slow and not held:
        return None
    line = "Slow link"
    if slow and link is not None:
        rate = min((r for r in (link.upload_mbps, link.download_mbps) if r is not None),
                   default=None)
        if rate is not None:
            line += f": {rate:.1f} Mbps at {clock_text(link.measured_at, now)}"
        line += f", AI needs {threshold_mbps:g}"
    if held:
        line += f"; {held} photo{'s' if held != 1 else ''} held"
    return Finding(Condition.SLOW_LINK, line, link.reason if link else "", key="slow_link")


def _distinct(findings: tuple[Finding, ...]) -> list[Finding]:
    seen: set[Condition] = set()
    out = []
    for f in findings:
        if f.condition not in seen:
            seen.add(f.condition)
            out.append(f)
    return out
