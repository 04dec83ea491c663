"""What the monitor knows about an account, in the cloud contract's terms (docs/cloud-api.md).

Money is always integer US cents; times are always timezone-aware UTC datetimes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Plan(str, enum.Enum):
    BASIC = "basic"
    PRO = "pro"
    PAY_AS_YOU_GO = "pay_as_you_go"
    # The contract lets enums grow: a value newer than this app is kept as UNKNOWN (its raw text
    # in Account.unrecognised) instead of failing the whole refresh and freezing the balance.
    UNKNOWN = "unknown"


class AccountStatus(str, enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    CLOSED = "closed"
    UNKNOWN = "unknown"


class PaymentMethod(str, enum.Enum):
    CARD = "card"
    CREDITS = "credits"
    UNKNOWN = "unknown"


class EntryKind(str, enum.Enum):
    AI_RUN = "ai_run"
    SMS = "sms"
    PURCHASE = "purchase"
    SUBSCRIPTION_RENEWAL = "subscription_renewal"
    COUPON_BONUS = "coupon_bonus"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class Feature(str, enum.Enum):
    """AI features a job can be submitted for. SMS is billed but is not an image job."""

    BACKGROUND_REMOVAL = "background_removal"
    AI_HEADSHOT = "ai_headshot"
    DRAW_ME = "draw_me"


FEATURE_LABELS = {
    Feature.BACKGROUND_REMOVAL: "Background removal",
    Feature.AI_HEADSHOT: "AI headshot",
    Feature.DRAW_ME: "Draw Me",
}


@dataclass(frozen=True)
class FeatureInfo:
    """One AI feature as the cloud lists it (GET /v1/features)."""

    id: str
    label: str
    price_cents: int | None = None


# The contract's published list (docs/cloud-api.md 7.5): what a booth that has never reached
# the cloud offers. Once the cloud's own list is read, that list decides: a vendor may add
# features (the contract lets enums grow) or retire one.
KNOWN_FEATURES: tuple[FeatureInfo, ...] = (
    FeatureInfo(Feature.BACKGROUND_REMOVAL.value, "Background removal", 25),
    FeatureInfo(Feature.AI_HEADSHOT.value, "AI headshot", 100),
    FeatureInfo(Feature.DRAW_ME.value, "Draw Me", 150),
)


def feature_label(feature_id: str, catalog: tuple[FeatureInfo, ...] = ()) -> str:
    """The cloud's name for a feature, else the built-in one, else its id in words: a feature
    added by the vendor after this release still reads as a name, never as a crash."""
    for info in (*catalog, *KNOWN_FEATURES):
        if info.id == feature_id:
            return info.label
    return feature_id.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Account:
    email: str
    plan: Plan
    status: AccountStatus
    primary_payment_method: PaymentMethod
    renews_at: datetime | None
    expires_at: datetime | None
    grace_ends_at: datetime | None
    dashboard_url: str | None = None
    # "plan: platinum" for each value this version does not know, so status can say so.
    unrecognised: tuple[str, ...] = ()


@dataclass(frozen=True)
class Balance:
    balance_cents: int
    as_of: datetime  # the cloud's own time for this figure
    # The newest ledger entry the figure includes (docs/cloud-api.md 7.3); None for an empty
    # ledger or a cloud that does not say.
    last_entry_id: str | None = None


@dataclass(frozen=True)
class LedgerEntry:
    id: str
    timestamp: datetime
    kind: EntryKind
    amount_cents: int  # signed: negative is a deduction
    balance_after_cents: int
    feature: str | None = None
    job_id: str | None = None
    receipt: str | None = None
    coupon_code: str | None = None
    description: str | None = None
    refund_request_id: str | None = None  # on refund entries: the request they answer


@dataclass(frozen=True)
class LedgerPage:
    entries: list[LedgerEntry]
    next_cursor: str
    has_more: bool
