"""Demo levers for the money traps of the vendor's support article (issue 11).

Each one puts the account into one trap the monitor must catch: a purchase paid but never
credited, a coupon whose bonus was never activated, a deduction nothing explains, a plan that
will not renew, and a closed account whose credits were removed. Backdating (`*_seconds_ago`)
lets a demo watch the 10-minute rule fire at once instead of after ten real minutes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from app.democloud import accounts, billing, fields, ledger
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
