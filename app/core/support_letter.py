"""What support reads for each request: the cloud's JSON body and the plain-text letter.

Each carries exactly the facts the vendor's article asks for (the receipt and the account
email; the coupon code and the subscription date; expected and actual balance, the date
noticed, the usage entries and a screenshot; the account email for a restore), so support can
act without writing back. The dispute packet's usage entries go as CSV, the facts as JSON.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import textwrap
from datetime import datetime
from typing import Any

from app.core.account_guard import TrapKind
from app.core.money import dollars
from app.core.refund_filing import Identity
from app.core.refund_letter import Letter, utc_text
from app.core.status import iso
from app.core.support_requests import KIND_WORDS, SupportRequest

SCREENSHOT_NAME = "balance.png"
ENTRY_COLUMNS = ("id", "timestamp", "kind", "amount_cents", "balance_after_cents")


def entries_csv(req: SupportRequest) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(ENTRY_COLUMNS), extrasaction="ignore",
                            lineterminator="\r\n")
    writer.writeheader()
    for entry in req.facts.get("entries", []):
        writer.writerow({k: entry.get(k) for k in ENTRY_COLUMNS})
    return out.getvalue()


def facts_json(req: SupportRequest, who: Identity) -> str:
    return json.dumps({"request": req.id, "kind": req.kind, "account_email": who.account_email,
                       "booth_name": who.booth_name or None, "noticed_at": iso(req.created_at),
                       **{k: v for k, v in req.facts.items() if k != "account_email"}},
                      indent=2, sort_keys=True) + "\n"


def cloud_request(req: SupportRequest, who: Identity) -> dict[str, Any]:
    """The body of POST /v1/support-requests; stored at the first attempt, re-sent unchanged."""
    f = req.facts
    body: dict[str, Any] = {
        "kind": req.kind, "account_email": who.account_email[:254],
        "booth_name": who.booth_name[:100] or None,
        "message": f"{req.message} (Booth Credit Monitor request {req.id})"[:10_000],
    }
    if req.kind == TrapKind.MISSING_PURCHASE.value:
        body.update(receipt=f["receipt"], amount_cents=f["amount_cents"], paid_at=f["paid_at"])
    elif req.kind == TrapKind.MISSING_COUPON_BONUS.value:
        body.update(coupon_code=f["coupon_code"], subscription_date=f["subscription_date"])
    elif req.kind == TrapKind.BALANCE_DISPUTE.value:
        body.update(expected_balance_cents=f["expected_cents"],
                    actual_balance_cents=f["actual_cents"], noticed_at=f["noticed_at"],
                    ledger_entry_ids=[e["id"] for e in f.get("entries", [])][:100])
        body["attachments"] = [_attachment("usage-entries.csv", "text/csv",
                                           entries_csv(req).encode())]
        if req.screenshot:
            body["attachments"].append(_attachment(SCREENSHOT_NAME, "image/png",
                                                   req.screenshot))
    elif req.kind == TrapKind.ACCOUNT_RESTORE.value:
        body["noticed_at"] = f.get("noticed_at")
    return body


def _attachment(name: str, mime: str, data: bytes) -> dict[str, str]:
    return {"filename": name, "content_type": mime,
            "data_base64": base64.b64encode(data).decode("ascii")}


def compose(req: SupportRequest, who: Identity) -> Letter:
    """The letter for a vendor that takes these requests by email."""
    f = req.facts
    booth = f" ({who.booth_name})" if who.booth_name else ""
    lines = ["Hello,", "", _fill(_ask(req)), "",
             f"{'Account email:':<18}{who.account_email}",
             f"{'Booth:':<18}{who.booth_name or 'not named'}"]
    lines += [f"{label + ':':<18}{value}" for label, value in _facts(req)]
    lines.append("All times are UTC.")
    if req.kind == TrapKind.BALANCE_DISPUTE.value and f.get("entries"):
        lines += ["", "Relevant usage history entries (also attached as CSV):"]
        for e in f["entries"]:
            lines.append(f"  {e['timestamp']}  {e['kind']:<20} {dollars(e['amount_cents']):>9}"
                         f"  balance after {dollars(e['balance_after_cents'])}  {e['id']}")
        lines.append("A screenshot of the balance as the booth shows it is attached."
                     if req.screenshot else "No screenshot could be taken on this booth.")
    lines += ["", _fill(f"What the booth saw: {req.message}"), "",
              _fill(f"Reference: support request {req.id}, prepared by Booth Credit Monitor "
                    "from the account's usage history and payments. Replies to this message "
                    "reach the booth operator.")]
    subject = f"{KIND_WORDS.get(req.kind, req.kind)}: {_subject(req)} - {who.account_email}{booth}"
    extra = ((SCREENSHOT_NAME, "image/png", req.screenshot),) if req.screenshot else ()
    return Letter(subject, "\n".join(lines) + "\n", entries_csv(req), facts_json(req, who),
                  csv_name="usage-entries.csv", json_name="support-request.json", extra=extra)


def _ask(req: SupportRequest) -> str:
    return {
        TrapKind.MISSING_PURCHASE.value: "A credit purchase on the account below was paid (we "
        "have the receipt) but has not reached the credit balance after more than 10 minutes. "
        "Please credit it.",
        TrapKind.MISSING_COUPON_BONUS.value: "The bonus credits of the coupon below have not "
        "arrived more than 10 minutes after it was applied. Please activate them.",
        TrapKind.BALANCE_DISPUTE.value: "The credit balance of the account below went down "
        "in a way its usage history does not explain. Please check the ledger and restore "
        "the credits taken in error.",
        TrapKind.ACCOUNT_RESTORE.value: "The account below was closed after its grace period "
        "and its credits removed. Please reopen it under Pay-As-You-Go and restore the "
        "credits; we are asking within days of the closure.",
    }.get(req.kind, "Please look into the problem below.")


def _facts(req: SupportRequest) -> list[tuple[str, str]]:
    f = req.facts
    if req.kind == TrapKind.MISSING_PURCHASE.value:
        return [("Receipt", str(f["receipt"])), ("Amount", dollars(f["amount_cents"])),
                ("Paid at", _utc(f["paid_at"]))]
    if req.kind == TrapKind.MISSING_COUPON_BONUS.value:
        return [("Coupon code", str(f["coupon_code"])),
                ("Subscription", _utc(f["subscription_date"])),
                ("Bonus promised", dollars(f.get("bonus_cents", 0)))]
    if req.kind == TrapKind.BALANCE_DISPUTE.value:
        return [("Expected balance", dollars(f["expected_cents"])),
                ("Actual balance", dollars(f["actual_cents"])),
                ("Noticed", _utc(f["noticed_at"]))]
    if req.kind == TrapKind.ACCOUNT_RESTORE.value:
        return [("Credits lost", dollars(f.get("credits_before_cents", 0))),
                ("Grace ended", _utc(f.get("grace_ended_at"))),
                ("Noticed", _utc(f.get("noticed_at")))]
    return []


def _subject(req: SupportRequest) -> str:
    f = req.facts
    if req.kind == TrapKind.MISSING_PURCHASE.value:
        return f"receipt {f['receipt']}, {dollars(f['amount_cents'])}"
    if req.kind == TrapKind.MISSING_COUPON_BONUS.value:
        return f"coupon {f['coupon_code']}"
    if req.kind == TrapKind.BALANCE_DISPUTE.value:
        return f"expected {dollars(f['expected_cents'])}, shown {dollars(f['actual_cents'])}"
    return f"{dollars(f.get('credits_before_cents', 0))} in credits"


def _utc(text: Any) -> str:
    if not text:
        return "not known"
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return utc_text(moment)


def _fill(text: str) -> str:
    return textwrap.fill(text, width=78, break_long_words=False, break_on_hyphens=False)
