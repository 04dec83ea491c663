"""The refund request support reads: plain text it can act on without writing back, plus the
same rows as CSV and JSON attachments, and the CSV the operator exports.

The vendor's support asks for the account email, the timestamp and the AI feature; we add the
amount, the ledger entry, every time the booth knows (submitted, charged, failed, all UTC) and
the error the booth saw, so nobody has to look anything up.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from app.core.model import feature_label
from app.core.money import dollars
from app.core.refunds import FIELDS, Claim, Rule, claim_json
from app.core.status import iso

ATTACHMENT_COLUMNS = ("claim_id", "account_email", "booth_name", "photo", "feature",
                      "amount_cents",
                      "submitted_at", "charged_at", "failed_at", "ledger_entry_id",
                      "cloud_job_id", "job_idempotency_key", "error", "reason")


@dataclass(frozen=True)
class Letter:
    subject: str
    body: str
    csv_text: str
    json_text: str
    # Attachment names, and any further files (name, MIME type, bytes): a support request's
    # screenshot of the balance.
    csv_name: str = "refund-claims.csv"
    json_name: str = "refund-claims.json"
    extra: tuple[tuple[str, str, bytes], ...] = ()


def utc_text(moment: datetime | None) -> str:
    if moment is None:
        return "not known"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def compose(claims: Sequence[Claim], account_email: str, booth_name: str) -> Letter:
    if not claims:
        raise ValueError("a letter needs at least one claim")
    total = sum(c.amount_cents for c in claims)
    n = len(claims)
    jobs = f"{n} AI job{'s' if n != 1 else ''}"
    booth = f" ({booth_name})" if booth_name else ""
    subject = f"Refund request: {jobs} charged without a result, {dollars(total)} - " \
              f"{account_email}{booth}"
    lines = [
        "Hello,",
        "",
        _fill(f"Please refund the AI credits for {jobs} on the account below: each was "
              "charged, then failed or never delivered its result to the booth. The same data "
              "is attached as CSV and JSON."),
        "",
        f"Account email:  {account_email}",
        f"Booth:          {booth_name or 'not named'}",
        f"Total claimed:  {dollars(total)} ({n} charge{'s' if n != 1 else ''})",
        "All times are UTC.",
        "",
        *_table(claims),
        "",
        "Details",
    ]
    for number, claim in enumerate(claims, start=1):
        lines += [
            f"{number}. {feature_label(claim.feature)}, {dollars(claim.amount_cents)}, "
            f"usage history entry {claim.ledger_entry_id}",
            f"   Photo:       {claim.photo or 'not known'}",
            f"   Submitted:   {_utc(claim.submitted_at)}",
            f"   Charged:     {_utc(claim.charged_at)}",
            f"   {'Given up:' if claim.rule is Rule.NO_RESULT else 'Failed:':<13}"
            f"{_utc(claim.failed_at)}",
            f"   Cloud job:   {claim.cloud_job_id or 'not known'}",
            f"   Error seen:  {claim.error or 'none recorded'}",
            f"   Why:         {claim.reason}",
        ]
    lines += [
        "",
        _fill(f"Reference: refund claim{'s' if n != 1 else ''} "
              f"{', '.join(c.id for c in claims)}, prepared by Booth Credit Monitor from the "
              "booth's job log and the account's usage history. Replies to this message reach "
              "the booth operator."),
    ]
    rows = [_attachment_row(c, account_email, booth_name) for c in claims]
    return Letter(subject, "\n".join(lines) + "\n", _csv(rows, ATTACHMENT_COLUMNS),
                  json.dumps({"account_email": account_email, "booth_name": booth_name or None,
                              "total_cents": total, "claims": rows}, indent=2) + "\n")


def _utc(moment: datetime | None) -> str:
    return "not known" if moment is None else f"{utc_text(moment)} UTC"


def _fill(text: str) -> str:
    return textwrap.fill(text, width=78, break_long_words=False, break_on_hyphens=False)


def _table(claims: Sequence[Claim]) -> list[str]:
    head = ("#", "Feature", "Amount", "Submitted", "Charged", "Failed", "Ledger entry")
    rows = [(str(i), feature_label(c.feature), dollars(c.amount_cents),
             utc_text(c.submitted_at), utc_text(c.charged_at), utc_text(c.failed_at),
             c.ledger_entry_id) for i, c in enumerate(claims, start=1)]
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    right = {0, 2}  # numbers and money line up on the right

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _attachment_row(claim: Claim, account_email: str, booth_name: str) -> dict[str, Any]:
    return {
        "claim_id": claim.id, "account_email": account_email, "booth_name": booth_name or None,
        "photo": claim.photo, "feature": claim.feature, "amount_cents": claim.amount_cents,
        "submitted_at": iso(claim.submitted_at), "charged_at": iso(claim.charged_at),
        "failed_at": iso(claim.failed_at), "ledger_entry_id": claim.ledger_entry_id,
        "cloud_job_id": claim.cloud_job_id, "job_idempotency_key": claim.job_key,
        "error": claim.error, "reason": claim.reason,
    }


# Times in the export are UTC (RFC 3339 with Z); the header says so for whoever opens it.
TIME_FIELDS = {"submitted_at", "charged_at", "failed_at", "filed_at", "refunded_at"}


def export_csv(claims: Sequence[Claim]) -> str:
    """The operator's export: every field `refunds --json` shows, one claim per row."""
    header = {f: f"{f}_utc" if f in TIME_FIELDS else f for f in FIELDS}
    rows = [{header[k]: v for k, v in claim_json(c).items() if k in header} for c in claims]
    return _csv(rows, [header[f] for f in FIELDS])


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore",
                            lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        # A spreadsheet would run it as a formula; error texts come from the network.
        return "'" + value
    return value
