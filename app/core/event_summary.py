"""What an event came to: photos, spend by feature, refunds, over a span of time.

Photos are counted as a guest sees them: a photo an operator retried is one photo (its newest
run decides how it ended), and a copy of a photo already sent is counted apart, never as a
second delivery. This booth's spend comes from its own jobs' charges; the account's (every
booth) from the shared usage history.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.jobs import OPEN, Job, JobState
from app.core.model import FEATURE_LABELS, EntryKind, Feature, LedgerEntry
from app.core.money import dollars
from app.core.refunds import Claim, ClaimStatus
from app.core.status import iso

# With no --since: the event is the latest run of jobs without a pause this long, at most a
# day back (a booth's night runs past midnight; the next event is rarely within 4 hours).
EVENT_GAP = timedelta(hours=4)
LONGEST_EVENT = timedelta(hours=24)
NO_JOBS_WINDOW = timedelta(hours=12)


@dataclass(frozen=True)
class FeatureSpend:
    feature: str
    photos: int  # delivered
    charged_cents: int  # everything this booth was charged for it, failed runs included

    @property
    def label(self) -> str:
        try:
            return FEATURE_LABELS[Feature(self.feature)]
        except ValueError:
            return self.feature


@dataclass(frozen=True)
class EventSummary:
    since: datetime
    until: datetime
    delivered: int
    failed: int  # failed or given up, not retried since
    queued: int  # still open (held included)
    held: int
    duplicates: int
    booth_charged_cents: int
    by_feature: tuple[FeatureSpend, ...]
    account_spent_cents: int  # AI and SMS charges of every booth in the span
    claims: int
    claimed_cents: int
    refunded_cents: int
    claims_open: int
    balance_cents: int | None = None
    balance_as_of: datetime | None = None

    @property
    def photos(self) -> int:
        return self.delivered + self.failed + self.queued

    def lines(self) -> list[str]:
        """The summary in a few sentences (the tray notification, `summary`)."""
        out = [f"{self.photos} photo{'s' if self.photos != 1 else ''}: {self.delivered} "
               f"delivered, {self.failed} failed, {self.queued} still queued"
               + (f" ({self.held} held)" if self.held else "")
               + (f"; {self.duplicates} repeated photo{'s' if self.duplicates != 1 else ''} not "
                  "sent again" if self.duplicates else "")]
        if self.by_feature:
            out.append("This booth spent " + dollars(self.booth_charged_cents) + ": " + ", ".join(
                f"{s.label} {dollars(s.charged_cents)} ({s.photos} delivered)"
                for s in self.by_feature))
        out.append(f"All booths of the account spent {dollars(self.account_spent_cents)}")
        if self.claims:
            out.append(f"Refunds: {dollars(self.claimed_cents)} claimed in {self.claims} "
                       f"claim{'s' if self.claims != 1 else ''}, {dollars(self.refunded_cents)} "
                       f"back, {self.claims_open} still open")
        else:
            out.append("Refunds: nothing to claim")
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "since": iso(self.since), "until": iso(self.until),
            "photos": {"total": self.photos, "delivered": self.delivered, "failed": self.failed,
                       "queued": self.queued, "held": self.held,
                       "duplicates": self.duplicates},
            "booth_charged_cents": self.booth_charged_cents,
            "by_feature": [{"feature": s.feature, "label": s.label, "delivered": s.photos,
                            "charged_cents": s.charged_cents} for s in self.by_feature],
            "account_spent_cents": self.account_spent_cents,
            "refunds": {"claims": self.claims, "claimed_cents": self.claimed_cents,
                        "refunded_cents": self.refunded_cents, "open": self.claims_open},
            "balance_cents": self.balance_cents, "balance_as_of": iso(self.balance_as_of),
        }


def default_since(created: Iterable[datetime], now: datetime) -> datetime:
    """The start of the latest run of jobs with no gap of EVENT_GAP, at most a day back."""
    times = sorted((t for t in created if now - LONGEST_EVENT <= t <= now), reverse=True)
    if not times:
        return now - NO_JOBS_WINDOW
    start = times[0]
    for earlier in times[1:]:
        if start - earlier >= EVENT_GAP:
            break
        start = earlier
    return start


def summarize_event(jobs: Sequence[Job], entries: Sequence[LedgerEntry],
                    claims: Sequence[Claim], since: datetime, until: datetime, *,
                    balance_cents: int | None = None,
                    balance_as_of: datetime | None = None) -> EventSummary:
    inside = [j for j in jobs if since <= j.created_at <= until]
    photos = [j for j in inside if j.superseded_by is None and j.state is not JobState.DUPLICATE
              and j.state is not JobState.REMOVED]
    spend: dict[str, list[int]] = {}
    for job in inside:  # every run counts for money, the retried ones too
        if job.charged_cents:
            spend.setdefault(job.feature, [0, 0])[1] += job.charged_cents
    for job in photos:
        if job.state is JobState.SUCCEEDED:
            spend.setdefault(job.feature, [0, 0])[0] += 1
    by_feature = tuple(FeatureSpend(f, n, cents) for f, (n, cents) in sorted(spend.items()))
    spent = -sum(e.amount_cents for e in entries
                 if since <= e.timestamp <= until and e.amount_cents < 0
                 and e.kind in (EntryKind.AI_RUN, EntryKind.SMS))
    ours = [c for c in claims if since <= c.charged_at <= until]
    return EventSummary(
        since=since, until=until,
        delivered=sum(j.state is JobState.SUCCEEDED for j in photos),
        failed=sum(j.state in (JobState.FAILED, JobState.GIVEN_UP) for j in photos),
        queued=sum(j.state in OPEN for j in photos),
        held=sum(j.state is JobState.HELD for j in photos),
        duplicates=sum(j.state is JobState.DUPLICATE for j in inside),
        booth_charged_cents=sum(s.charged_cents for s in by_feature),
        by_feature=by_feature,
        account_spent_cents=spent,
        claims=len(ours),
        claimed_cents=sum(c.amount_cents for c in ours
                          if c.status is not ClaimStatus.WITHDRAWN),
        refunded_cents=sum(c.refunded_cents or 0 for c in ours),
        claims_open=sum(c.is_open for c in ours),
        balance_cents=balance_cents, balance_as_of=balance_as_of,
    )


def summary_csv(summary: EventSummary) -> str:
    """One row per feature plus a total, with the span in UTC (labelled) for the books."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["since_utc", "until_utc", "feature", "delivered", "charged_cents"])
    span = [iso(summary.since), iso(summary.until)]
    for s in summary.by_feature:
        writer.writerow([*span, s.feature, s.photos, s.charged_cents])
    writer.writerow([*span, "total (this booth)", summary.delivered, summary.booth_charged_cents])
    writer.writerow([*span, "all booths (usage history)", "", summary.account_spent_cents])
    writer.writerow([*span, "refunds claimed", summary.claims, summary.claimed_cents])
    writer.writerow([*span, "refunds back", "", summary.refunded_cents])
    return out.getvalue()
