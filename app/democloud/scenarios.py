"""Demo-only levers (/demo/...) that make the cloud misbehave the way the real one does.

Each scenario reproduces a pattern from the vendor's support history: purchases that reach the
ledger late, renewals paid from credits, other booths draining the shared balance, bonus credits
granted by hand, outages and captive portals at venues, and accounts that lapse.
"""

from __future__ import annotations

import calendar
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from app.democloud import accounts, billing, fields, jobs, ledger
from app.democloud.clock import fmt_ts, new_id, now_ts, parse_ts, utcnow
from app.democloud.disruptions import OUTAGE_MODES
from app.democloud.problems import ApiError, unprocessable

if TYPE_CHECKING:
    from app.democloud.runtime import Runtime

RENEWAL_CENTS = {"basic": 5000, "pro": 10000}


def _add_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _record_or_schedule(
    rt: Runtime, account_id: int, delay: float, **entry: Any
) -> dict[str, Any] | None:
    with rt.db.tx() as conn:
        if delay <= 0:
            return ledger.record(conn, account_id, **entry)
        ledger.schedule(conn, account_id, due_at=time.time() + delay, **entry)
    rt.wake_worker()
    return None


def late_purchase(rt: Runtime, account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    amount = fields.integer(body, "amount_cents", default=5000, minimum=1, maximum=10_000_000)
    delay = fields.number(body, "delay_seconds", default=30, minimum=0, maximum=86400)
    receipt = new_id("rcpt")
    purchased_at = now_ts()
    with rt.db.tx() as conn:  # the payment side knows at once; the ledger learns later
        billing.record_payment(conn, account_id, receipt=receipt, amount_cents=amount,
                               paid_at=purchased_at)
    entry = _record_or_schedule(
        rt,
        account_id,
        delay,
        kind="purchase",
        amount_cents=amount,
        timestamp=purchased_at,
        receipt=receipt,
        description=f"Credit purchase ${amount / 100:.2f} (card)",
    )
    return {
        "receipt": receipt,
        "amount_cents": amount,
        "purchased_at": purchased_at,
        "recorded_in_seconds": delay,
        "ledger_entry_id": entry["id"] if entry else None,
    }


def coupon_bonus(rt: Runtime, account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    code = fields.text(body, "coupon_code", default="Pro4Free", max_length=40)
    amount = fields.integer(body, "amount_cents", default=4000, minimum=1, maximum=10_000_000)
    delay = fields.number(body, "delay_seconds", default=0, minimum=0, maximum=86400)
    with rt.db.tx() as conn:  # applied to the subscription now; the bonus follows
        billing.apply_coupon(conn, account_id, code=code, bonus_cents=amount)
    entry = _record_or_schedule(
        rt,
        account_id,
        delay,
        kind="coupon_bonus",
        amount_cents=amount,
        timestamp=now_ts(),
        coupon_code=code,
        description=f"Bonus credits for coupon {code} (activated manually by Cloud Operations)",
    )
    return {
        "coupon_code": code,
        "amount_cents": amount,
        "recorded_in_seconds": delay,
        "ledger_entry_id": entry["id"] if entry else None,
    }


def renewal_from_credits(rt: Runtime, account_id: int) -> dict[str, Any]:
    with rt.db.tx() as conn:
        row = accounts.get_row(conn, account_id)
        amount = RENEWAL_CENTS.get(row["plan"])
        if amount is None:
            raise unprocessable("Pay-As-You-Go accounts have no subscription to renew.")
        if row["balance_cents"] < amount:
            raise ApiError(
                402,
                "insufficient_credits",
                "Not enough credits for the renewal; a real cloud would charge the card.",
            )
        renews = parse_ts(row["renews_at"]) if row["renews_at"] else utcnow()
        entry = ledger.record(
            conn,
            account_id,
            kind="subscription_renewal",
            amount_cents=-amount,
            receipt=new_id("rcpt"),
            description=(
                f"{row['plan'].capitalize()} plan monthly renewal ${amount / 100:.2f}, paid from "
                "AI credits (primary payment method: credits)"
            ),
        )
        accounts.update(conn, account_id, renews_at=fmt_ts(_add_month(renews)))
        return {"entry": entry, "renews_at": accounts.get_row(conn, account_id)["renews_at"]}


def other_booth_spend(rt: Runtime, account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    feature_id = fields.text(body, "feature", default="draw_me", max_length=64)
    count = fields.integer(body, "count", default=5, minimum=1, maximum=1000)
    booth = fields.text(body, "booth_id", default="booth-2", max_length=64)
    if feature_id != "sms":
        jobs.require_feature(feature_id)
    price = jobs.SMS_PRICE_CENTS if feature_id == "sms" else jobs.FEATURES[feature_id].price_cents
    spent: list[str] = []
    with rt.db.tx() as conn:
        for _ in range(count):
            if accounts.get_row(conn, account_id)["balance_cents"] < price:
                break  # the other booth hits zero and pauses, exactly like a real one
            if feature_id == "sms":
                entry = ledger.record(
                    conn,
                    account_id,
                    kind="sms",
                    amount_cents=-price,
                    feature="sms",
                    description=f"SMS sent from {booth}",
                )
            else:
                entry = jobs.insert_finished(
                    conn,
                    account_id,
                    feature=jobs.FEATURES[feature_id],
                    created_at=now_ts(),
                    booth_id=booth,
                )
            spent.append(entry["id"])
    return {
        "feature": feature_id,
        "count": len(spent),
        "spent_cents": price * len(spent),
        "ledger_entry_ids": spent,
    }


def expire_account(rt: Runtime, account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    grace = fields.integer(body, "grace_days", default=30, minimum=0, maximum=365)
    now = utcnow()
    with rt.db.tx() as conn:
        accounts.update(
            conn,
            account_id,
            status="expired",
            expires_at=fmt_ts(now),
            grace_ends_at=fmt_ts(now + timedelta(days=grace)),
        )
        return accounts.account_json(conn, account_id)


def start_outage(rt: Runtime, body: dict[str, Any]) -> dict[str, Any]:
    mode = body.get("mode", "503")
    if mode not in OUTAGE_MODES:
        raise unprocessable(f"mode must be one of {', '.join(OUTAGE_MODES)}.")
    seconds = fields.number(body, "seconds", default=60, minimum=0, maximum=86400)
    rt.disruptions.start_outage(mode, seconds)
    return {"mode": mode, "seconds": seconds}


def ledger_lag(rt: Runtime, account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """The balance moves at once, the ledger hides what is recorded from now on for `seconds`
    (a vendor serving its ledger from a lagging replica): the client must see the balance
    ahead of its history and look again, not trust it or call it a dispute."""
    seconds = fields.number(body, "seconds", default=30, minimum=0, maximum=3600)
    # Something to lag behind: another booth spends right after the lag starts.
    spend = fields.integer(body, "spend_count", default=0, minimum=0, maximum=100)
    with rt.db.read() as conn:
        upto = ledger.newest_seq(conn, account_id)
    rt.disruptions.lag_ledger(upto, seconds)
    spent = other_booth_spend(rt, account_id, {"count": spend}) if spend else None
    return {"ledger_upto_seq": upto, "seconds": seconds,
            "spent_entry_ids": spent["ledger_entry_ids"] if spent else []}


def restore(rt: Runtime, account_id: int) -> dict[str, Any]:
    """End outages and token revocation, reopen an expired or suspended account and renew a
    plan that was set to end (a closed account is support's business: a restore request)."""
    rt.disruptions.restore()
    with rt.db.tx() as conn:
        # A busy night still running ends (a late purchase or bonus still arrives).
        conn.execute("DELETE FROM scheduled_entries WHERE account_id = ? AND kind = 'ai_run'",
                     (account_id,))
        row = accounts.get_row(conn, account_id)
        if row["status"] in ("expired", "suspended") or (
                row["status"] == "active" and row["expires_at"] and not row["renews_at"]):
            renews = None if row["plan"] == "pay_as_you_go" else fmt_ts(_add_month(utcnow()))
            accounts.update(conn, account_id, status="active", expires_at=None,
                            grace_ends_at=None, renews_at=renews)
    return state(rt, account_id)


def state(rt: Runtime, account_id: int) -> dict[str, Any]:
    outage = rt.disruptions.outage()
    with rt.db.read() as conn:
        row = accounts.get_row(conn, account_id)
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM ledger_entries WHERE account_id = ?", (account_id,)
        ).fetchone()
        by_status = {
            r["status"]: r["n"]
            for r in conn.execute(
                "SELECT status, COUNT(*) AS n FROM jobs WHERE account_id = ? GROUP BY status",
                (account_id,),
            )
        }
        refunds = {
            r["status"]: r["n"]
            for r in conn.execute(
                "SELECT status, COUNT(*) AS n FROM refund_requests WHERE account_id = ?"
                " GROUP BY status",
                (account_id,),
            )
        }
        support = {
            r["status"]: r["n"]
            for r in conn.execute(
                "SELECT status, COUNT(*) AS n FROM support_requests WHERE account_id = ?"
                " GROUP BY status",
                (account_id,),
            )
        }
        (pending,) = conn.execute(
            "SELECT COUNT(*) FROM scheduled_entries WHERE account_id = ?", (account_id,)
        ).fetchone()
        total = ledger.ledger_sum(conn, account_id)
    return {
        "email": row["email"],
        "account_status": row["status"],
        "balance_cents": row["balance_cents"],
        "ledger_sum_cents": total,
        "entry_count": count,
        "scheduled_entries": pending,
        "jobs": {s: by_status.get(s, 0) for s in ("queued", "running", "succeeded", "failed")},
        "refund_requests": refunds,
        "support_requests": support,
        "outage": {"mode": outage[0], "retry_after_seconds": outage[1]} if outage else None,
    }
