"""The demo account's first five weeks: the history a booth operator would actually have.

Generated from a fixed seed relative to the first start, so every fresh database tells the same
story: purchases with receipts, event nights of AI runs and SMS, a coupon bonus, a renewal that
was paid from credits, and one failed job that was charged and never refunded.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from datetime import datetime, timedelta

from app.democloud import accounts, jobs, ledger
from app.democloud.clock import fmt_ts

DEMO_EMAIL = "demo@booth.example"
DASHBOARD_URL = "https://cloud.example/billing"  # placeholder: the vendor has no deep link
_HISTORY_SEED = 20240611
# (days ago, number of AI runs, number of SMS) for the event nights in the history.
_EVENTS = ((33, 9, 3), (27, 11, 2), (20, 7, 2), (9, 12, 3), (2, 6, 1))
_FEATURE_WEIGHTS = (("background_removal", 5), ("ai_headshot", 3), ("draw_me", 2))


def seed_demo_account(conn: sqlite3.Connection, now: datetime) -> int:
    rng = random.Random(_HISTORY_SEED)

    def ident(prefix: str) -> str:
        return f"{prefix}_{rng.getrandbits(64):016x}"

    def at(days_ago: int, hour: int, minute: int) -> datetime:
        day = now - timedelta(days=days_ago)
        return day.replace(hour=hour, minute=minute, second=rng.randrange(60), microsecond=0)

    renewal_day = 18
    account_id = accounts.create_account(
        conn,
        DEMO_EMAIL,
        plan="basic",
        status="active",
        primary_payment_method="credits",
        renews_at=fmt_ts(at(renewal_day - 30, 6, 0)),
        dashboard_url=DASHBOARD_URL,
        booths=2,
    )
    # (when, kind, amount, receipt, coupon code, description)
    money: list[tuple[datetime, str, int, str | None, str | None, str]] = [
        (
            at(35, 10, 12),
            "purchase",
            10000,
            ident("rcpt"),
            None,
            "Credit purchase $100.00 (card ending 4242)",
        ),
        (
            at(31, 9, 40),
            "coupon_bonus",
            2000,
            None,
            "Basic2Credits",
            "Bonus credits for coupon Basic2Credits (activated manually by Cloud Operations)",
        ),
        (
            at(renewal_day, 6, 0),
            "subscription_renewal",
            -5000,
            ident("rcpt"),
            None,
            "Basic plan monthly renewal $50.00, paid from AI credits "
            "(primary payment method: credits)",
        ),
        (
            at(15, 14, 3),
            "purchase",
            5000,
            ident("rcpt"),
            None,
            "Credit purchase $50.00 (card ending 4242)",
        ),
    ]
    runs: list[tuple[datetime, str]] = []
    for days_ago, n_runs, n_sms in _EVENTS:
        for _ in range(n_runs):
            feature = rng.choices(
                [f for f, _ in _FEATURE_WEIGHTS], [w for _, w in _FEATURE_WEIGHTS]
            )[0]
            runs.append((at(days_ago, rng.randrange(17, 23), rng.randrange(60)), feature))
        for _ in range(n_sms):
            runs.append((at(days_ago, rng.randrange(17, 23), rng.randrange(60)), "sms"))
    failed_at = at(2, 21, 14)

    timeline = sorted(
        [(t, "money", i) for i, (t, *_) in enumerate(money)]
        + [(t, "run", i) for i, (t, *_) in enumerate(runs)]
        + [(failed_at, "failed", 0)]
    )
    for moment, what, index in timeline:
        ts = fmt_ts(moment)
        if what == "money":
            _, kind, amount, receipt, coupon, text = money[index]
            ledger.record(
                conn,
                account_id,
                kind=kind,
                amount_cents=amount,
                receipt=receipt,
                coupon_code=coupon,
                description=text,
                timestamp=ts,
                entry_id=ident("le"),
            )
        elif what == "failed" or runs[index][1] != "sms":
            feature = "draw_me" if what == "failed" else runs[index][1]
            jobs.insert_finished(
                conn,
                account_id,
                feature=jobs.FEATURES[feature],
                created_at=ts,
                booth_id="booth-1",
                failure_reason="connection lost mid-upload" if what == "failed" else None,
                job_id=ident("job"),
                entry_id=ident("le"),
            )
        else:
            ledger.record(
                conn,
                account_id,
                kind="sms",
                amount_cents=-jobs.SMS_PRICE_CENTS,
                feature="sms",
                timestamp=ts,
                entry_id=ident("le"),
                description="SMS photo link to a guest",
            )
    return account_id


def seed_extra_account(conn: sqlite3.Connection, email: str, now: datetime) -> int:
    """A second account for isolation tests: plain, with a small starting purchase."""
    account_id = accounts.create_account(
        conn, email, plan="pay_as_you_go", primary_payment_method="card", booths=1
    )
    ledger.record(
        conn,
        account_id,
        kind="purchase",
        amount_cents=2000,
        receipt="rcpt_" + hashlib.sha256(email.encode()).hexdigest()[:16],
        timestamp=fmt_ts(now - timedelta(days=1)),
        description="Credit purchase $20.00 (card)",
    )
    return account_id
