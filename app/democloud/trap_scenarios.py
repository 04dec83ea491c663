"""Demo levers for the money traps of the vendor's support article (issue 11).

Each one puts the account into one trap the monitor must catch: a purchase paid but never
credited, a coupon whose bonus was never activated, a deduction nothing explains, a plan that
will not renew, and a closed account whose credits were removed; and a busy night, where other
booths spend the shared balance photo by photo over the evening. Backdating (`*_seconds_ago`)
lets a demo watch the 10-minute rule fire at once instead of after ten real minutes.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from app.democloud import accounts, billing, fields, jobs, ledger
from app.democloud.clock import fmt_ts, new_id, utcnow
from app.democloud.problems import unprocessable
from app.democloud.support import CLOSURE_PREFIX

if TYPE_CHECKING:
    from app.democloud.runtime import Runtime


def lost_purchase(rt: Runtime, account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """The card was charged and a receipt sent; the credits never reach the ledger."""
    amount = fields.integer(body, "amount_cents", default=5000, minimum=1, maximum=10_000_000)
    ago = fields.number(body, "paid_seconds_ago", default=660, minimum=0, maximum=86400 * 30)
    with rt.db.tx() as conn:
        return billing.record_payment(conn, account_id, receipt=new_id("rcpt"),
                                      amount_cents=amount,
                                      paid_at=fmt_ts(utcnow() - timedelta(seconds=ago)))


def coupon_not_activated(rt: Runtime, account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Basic2Credits, Basic2Free, Pro4Free: the discount applies, the bonus waits for a hand."""
    code = fields.text(body, "coupon_code", default="Pro4Free", max_length=40)
    bonus = fields.integer(body, "bonus_cents", default=4000, minimum=0, maximum=10_000_000)
    ago = fields.number(body, "applied_seconds_ago", default=660, minimum=0,
                        maximum=86400 * 30)
    with rt.db.tx() as conn:
        return billing.apply_coupon(conn, account_id, code=code, bonus_cents=bonus,
                                    applied_at=fmt_ts(utcnow() - timedelta(seconds=ago)))


def unexplained_deduction(rt: Runtime, account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Credits taken with no AI use, no renewal and no purchase behind them."""
    amount = fields.integer(body, "amount_cents", default=2000, minimum=1, maximum=10_000_000)
    with rt.db.tx() as conn:
        balance = accounts.get_row(conn, account_id)["balance_cents"]
        if balance < amount:
            raise unprocessable("The balance is smaller than the deduction.")
        return ledger.record(conn, account_id, kind="adjustment", amount_cents=-amount,
                             description="Balance correction")


def plan_ending(rt: Runtime, account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Auto-renewal off: the plan expires in `days` and the reminders start."""
    days = fields.number(body, "days", default=6.5, minimum=0.01, maximum=365)
    with rt.db.tx() as conn:
        if accounts.get_row(conn, account_id)["plan"] == "pay_as_you_go":
            raise unprocessable("Pay-As-You-Go has no plan to expire.")
        accounts.update(conn, account_id, status="active", renews_at=None,
                        expires_at=fmt_ts(utcnow() + timedelta(days=days)), grace_ends_at=None)
        return accounts.account_json(conn, account_id)


def close_account(rt: Runtime, account_id: int) -> dict[str, Any]:
    """The grace period ended without a downgrade: the account closes, the credits go."""
    now = utcnow()
    with rt.db.tx() as conn:
        row = accounts.get_row(conn, account_id)
        accounts.update(conn, account_id, status="closed",
                        expires_at=row["expires_at"] or fmt_ts(now - timedelta(days=30)),
                        grace_ends_at=fmt_ts(now), renews_at=None)
        if row["balance_cents"] > 0:
            ledger.record(conn, account_id, kind="adjustment",
                          amount_cents=-row["balance_cents"],
                          description=f"{CLOSURE_PREFIX} after the grace period: credits "
                          "removed")
        return accounts.account_json(conn, account_id)


def busy_night(rt: Runtime, account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Other booths on the account running AI photos one after another, spread over time (not
    one burst), speeding up from a photo every `every_seconds` to one every
    `final_every_seconds`: the forecast has a pace to follow and watches it quicken. Each
    charge is recorded when it is due (durably scheduled: a restart carries on); one the
    balance no longer covers is dropped, as a booth at zero pauses. `restore` ends it."""
    photos = fields.integer(body, "photos", default=120, minimum=1, maximum=2000)
    first = fields.number(body, "every_seconds", default=30, minimum=0.05, maximum=3600)
    last = fields.number(body, "final_every_seconds", default=max(0.05, first / 3), minimum=0.05,
                         maximum=3600)
    feature_id = fields.text(body, "feature", default="ai_headshot", max_length=64)
    booth = fields.text(body, "booth_id", default="booth-2", max_length=64)
    feature = jobs.require_feature(feature_id)
    start, wall = utcnow(), time.time()
    offset = 0.0
    with rt.db.tx() as conn:
        for n in range(photos):
            # The gap shrinks evenly from the first to the last: the pace rises steadily.
            offset += first + (last - first) * (n / max(1, photos - 1))
            job_id = new_id("job")
            ledger.schedule(conn, account_id, due_at=wall + offset,
                            timestamp=fmt_ts(start + timedelta(seconds=offset)), kind="ai_run",
                            amount_cents=-feature.price_cents, feature=feature.id,
                            job_id=job_id,
                            description=f"{feature.label} (job {job_id}, {booth})")
    rt.wake_worker()
    return {"photos": photos, "feature": feature.id, "price_cents": feature.price_cents,
            "every_seconds": first, "final_every_seconds": last,
            "ends_in_seconds": round(offset, 1)}
