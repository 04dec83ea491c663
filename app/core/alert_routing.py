"""Where each alert goes: the tray, the operator's phone (Apprise URLs), both, or nowhere.

Every alert the app raises already has a key (app.core.alerts, job_notices, refund_filing,
support_requests); its prefix names its kind. Each kind has a route (tray, phone, both, off), a
minimum severity below which it goes nowhere but the window's list, and a rate limit for the
phone: the same kind at most once per `gap_minutes`. Settings keeps only what the operator
changed (`alert_routes` in settings.json, kind -> {"to", "min_severity", "gap_minutes"}).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from app.core.alerts import Alert
from app.core.jobs import JobState, QueueCounts

SEVERITIES = ("info", "warning", "critical")
DESTINATIONS = ("tray", "phone", "both", "off")
# The same alert (same key) raised again this soon is the same occurrence: a restart, or a crash
# between committing the phone alert and remembering that it was raised, must not send it twice.
REPEAT_WINDOW = timedelta(minutes=30)

# key prefix -> kind (the part of the key before the first ':')
KIND_OF_PREFIX = {
    "low-balance": "low_balance",
    "runs-out": "forecast",
    "offline": "link_down",
    "online": "link_back",
    "untrusted": "stale_balance",
    "held": "photos_held",
    "stuck": "queue_stuck",
    "paused": "jobs_paused",
    "refund-filed": "claim_filed",
    "refund-refunded": "claim_paid",
    "refund-rejected": "claim_paid",
    "grace": "plan_grace",
    "renewal-upcoming": "plan_grace",
    "renewal-entry": "account_trap",
    "account-closed": "account_trap",
    "trap": "account_trap",
    # The account guard's requests to support (issue 11) are claims like the refund ones.
    "support-filed": "claim_filed",
    "support-resolved": "claim_paid",
    "support-rejected": "claim_paid",
}
# Two-part prefixes that outrank the first part: the guard's plan reminders are trap notices
# by key ("trap:plan_ending:3:…") but plan and grace warnings to the operator.
KIND_OF_TWO_PART = {"trap:plan_ending": "plan_grace"}


@dataclass(frozen=True)
class Route:
    to: str = "tray"  # one of DESTINATIONS
    min_severity: str = "info"
    gap_minutes: int = 0  # phone: at most one alert of this kind per gap (0 = no limit)

    @property
    def tray(self) -> bool:
        return self.to in ("tray", "both")

    @property
    def phone(self) -> bool:
        return self.to in ("phone", "both")


@dataclass(frozen=True)
class Kind:
    name: str
    label: str  # what Settings calls it: short, the table has four columns at 150%
    default: Route
    # A lasting alert still waiting when its condition clears is dropped (a topped-up balance
    # needs no late "credits low"); a link-down alert is sent late instead: it is the record of
    # an outage, and the operator hears "down since 14:02" with the "back" that follows it.
    drop_when_cleared: bool = True


KINDS: tuple[Kind, ...] = (
    Kind("low_balance", "Credits low", Route("both", "info", 30)),
    Kind("forecast", "Run out before the end", Route("both", "info", 60)),
    Kind("link_down", "Cloud unreachable", Route("both", "info", 0), drop_when_cleared=False),
    Kind("link_back", "Cloud back", Route("both", "info", 0), drop_when_cleared=False),
    Kind("stale_balance", "Balance not trusted", Route("tray", "info", 30)),
    Kind("photos_held", "Photos held", Route("both", "info", 15)),
    Kind("queue_stuck", "Queue not moving", Route("both", "info", 15)),
    Kind("jobs_paused", "AI jobs paused", Route("both", "info", 15)),
    Kind("claim_filed", "Claim filed", Route("tray", "info", 0)),
    Kind("claim_paid", "Claim paid / rejected", Route("both", "info", 0)),
    Kind("plan_grace", "Plan and grace period", Route("both", "info", 360)),
    Kind("account_trap", "Account traps", Route("both", "info", 60)),
    Kind("other", "Everything else", Route("tray", "info", 0)),
)
KIND_BY_NAME = {k.name: k for k in KINDS}


def kind_of(key: str) -> str:
    """The kind of an alert key; '' for one-off problems (key ''), which stay on this PC."""
    if not key:
        return ""
    two = ":".join(key.split(":", 2)[:2])
    if two in KIND_OF_TWO_PART:
        return KIND_OF_TWO_PART[two]
    return KIND_OF_PREFIX.get(key.split(":", 1)[0], "other")


def routes_from_setting(raw: Mapping[str, Any] | None) -> dict[str, Route]:
    """Every kind's route: the defaults, overridden by what settings.json says (values that
    are not understood are ignored, so a hand edit can never stop the tray)."""
    routes = {k.name: k.default for k in KINDS}
    for name, value in (raw or {}).items():
        if name not in routes or not isinstance(value, Mapping):
            continue
        route = routes[name]
        to, severity, gap = value.get("to"), value.get("min_severity"), value.get("gap_minutes")
        if to in DESTINATIONS:
            route = replace(route, to=to)
        if severity in SEVERITIES:
            route = replace(route, min_severity=severity)
        if isinstance(gap, int) and not isinstance(gap, bool) and 0 <= gap <= 24 * 60:
            route = replace(route, gap_minutes=gap)
        routes[name] = route
    return routes


def routes_to_setting(routes: Mapping[str, Route]) -> dict[str, dict[str, Any]]:
    """Only what differs from the defaults, so a later version's better defaults still apply."""
    out = {}
    for name, route in routes.items():
        kind = KIND_BY_NAME.get(name)
        if kind is not None and route != kind.default:
            out[name] = {"to": route.to, "min_severity": route.min_severity,
                         "gap_minutes": route.gap_minutes}
    return out


def _loud_enough(alert: Alert, route: Route) -> bool:
    severity = alert.severity if alert.severity in SEVERITIES else "warning"
    return SEVERITIES.index(severity) >= SEVERITIES.index(route.min_severity)


def wants_tray(alert: Alert, routes: Mapping[str, Route]) -> bool:
    """A tray notification? Problems with an action the operator just took always are."""
    kind = kind_of(alert.key)
    route = routes.get(kind)
    return route is None or (route.tray and _loud_enough(alert, route))


def wants_phone(alert: Alert, routes: Mapping[str, Route]) -> bool:
    route = routes.get(kind_of(alert.key))
    return route is not None and route.phone and _loud_enough(alert, route)


def admission(route: Route, last_same_key: datetime | None, last_same_kind: datetime | None,
              now: datetime, *, due_at: datetime | None = None,
              last_due_at: datetime | None = None) -> str:
    """'new' (queue it), 'repeat' (the same occurrence is already in the outbox: nothing to
    do) or 'rate_limited' (recorded as dropped, so `alerts` says why it never came).

    The rate limit keeps noise down, never news: an alert whose deadline (`due_at`: the
    credits run out) leaves at most half the time the last one of its kind that reached the
    phone (`last_due_at`) said is left goes through (a night speeding up took the forecast
    from 22:44 to 19:58 in two minutes, and the phone kept the 22:44). Halving bounds how many:
    a few a night, each twice as urgent."""
    if last_same_key is not None and now - last_same_key < REPEAT_WINDOW:
        return "repeat"
    gap = timedelta(minutes=route.gap_minutes)
    if gap and last_same_kind is not None and now - last_same_kind < gap:
        if due_at is not None and last_due_at is not None and (
                (due_at - now) * 2 <= last_due_at - now):
            return "new"
        return "rate_limited"
    return "new"


def queue_condition_keys(counts: QueueCounts) -> set[str]:
    """The job notices' lasting conditions as the store sees them now (the job worker's own
    watch lives in another thread; the outbox asks the queue itself)."""
    keys = set()
    if counts.count(JobState.HELD):
        keys.add("held")
    if counts.open:
        keys.add("stuck")
    if counts.pause is not None:
        keys.add(f"paused:{counts.pause.kind}")
    return keys
