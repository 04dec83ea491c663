"""Claim lifecycle, the end-of-event summary, filing decisions and the letter to support."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
import yaml

from app.core.errors import (
    AuthFailed,
    CloudUnavailable,
    CloudUnreachable,
    NotConfigured,
    RequestRejected,
)
from app.core.refund_filing import (
    Channel,
    Identity,
    MailAuthFailed,
    MailMaybeSent,
    MailTlsUnavailable,
    MailUnreachable,
    channels_from_setting,
    classify,
    cloud_request,
)
from app.core.refund_letter import compose, export_csv
from app.core.refunds import Claim, ClaimStatus, Rule, can_move, claim_json, summarize

T0 = datetime(2025, 6, 12, 21, 14, 33, tzinfo=timezone.utc)
S = ClaimStatus


def claim(n: int, *, status=S.PENDING, cents=150, refunded=None, rule=Rule.FAILED_AFTER_CHARGE,
          feature="draw_me") -> Claim:
    return Claim(id=f"rc-{n}", ledger_entry_id=f"le_{n:04d}", rule=rule, feature=feature,
                 amount_cents=cents, charged_at=T0 + timedelta(minutes=n),
                 reason="The AI job failed after it was charged; no result was delivered.",
                 idempotency_key=f"bcm-refund-{n}", created_at=T0, status=status,
                 job_id=f"j-{n}", cloud_job_id=f"job_{n}", job_key=f"bcm-{n}",
                 submitted_at=T0 + timedelta(minutes=n, seconds=-2),
                 failed_at=T0 + timedelta(minutes=n, seconds=29),
                 error="The cloud could not make this result (connection lost mid-upload).",
                 refunded_cents=refunded)


MOVES = [
    (S.PENDING, S.FILED, True), (S.PENDING, S.WITHDRAWN, True), (S.FILED, S.ACKNOWLEDGED, True),
    (S.ACKNOWLEDGED, S.REFUNDED, True), (S.FILED, S.REJECTED, True),
    (S.REJECTED, S.REFUNDED, True), (S.FILED, S.PENDING, False), (S.REFUNDED, S.REJECTED, False),
    (S.FILED, S.WITHDRAWN, False), (S.WITHDRAWN, S.FILED, False), (S.ACKNOWLEDGED, S.FILED, False),
]


@pytest.mark.parametrize(("now", "target", "allowed"), MOVES,
                         ids=[f"{a.value}->{b.value}" for a, b, _ in MOVES])
def test_claims_only_move_forward(now, target, allowed):
    assert can_move(now, target) is allowed


def test_the_end_of_event_summary_reads_as_the_issue_asks():
    claims = [claim(1, status=S.REFUNDED, refunded=150), claim(2, status=S.REFUNDED, refunded=150),
              claim(3, status=S.FILED)]
    assert summarize(claims).text() == "3 failed jobs, $4.50 claimed, $3.00 refunded"
    more = [*claims, claim(4, rule=Rule.DUPLICATE_CHARGE), claim(5, status=S.REJECTED),
            claim(6, status=S.WITHDRAWN)]
    summary = summarize(more)
    assert summary.text() == ("4 failed jobs, 1 double charge, $7.50 claimed, $3.00 refunded, "
                              "1 not yet filed, 1 rejected")
    doc = summary.to_json()
    assert doc["claims"] == 6 and doc["by_status"]["withdrawn"] == 1
    assert doc["claimed_cents"] == 750 and doc["refunded_cents"] == 300
    assert summarize(more, since=T0 + timedelta(minutes=4)).claims == 3
    assert summarize([]).text() == "No refund claims."


def test_claim_json_has_the_fields_the_cli_promises():
    doc = claim_json(claim(1))
    for name in ("id", "job_id", "feature", "amount_cents", "charged_at", "failed_at", "filed_at",
                 "channel", "status", "ledger_entry_id"):
        assert name in doc
    assert doc["charged_at"] == "2025-06-12T21:15:33Z" and doc["status"] == "pending"


CHANNELS = [("cloud", (Channel.CLOUD,)), ("email", (Channel.EMAIL,)),
            ("both", (Channel.CLOUD, Channel.EMAIL)), (" Email ", (Channel.EMAIL,)),
            ("emial", (Channel.CLOUD,)), (None, (Channel.CLOUD,))]


@pytest.mark.parametrize(("setting", "channels"), CHANNELS)
def test_channel_setting(setting, channels):
    assert channels_from_setting(setting) == channels


FAILURES = [
    (CloudUnreachable("offline"), True, False, "cloudunreachable"),
    (CloudUnavailable("busy", retry_after=7), True, False, "cloudunavailable"),
    (AuthFailed("token"), False, False, "auth"),
    (NotConfigured("no url"), False, False, "config"),
    (RequestRejected("gone", status=404), False, False, "not_offered"),
    (RequestRejected("busy", code="idempotency_conflict", status=409), True, False,
     "in_progress"),
    (RequestRejected("bad", code="unprocessable", status=422), False, True, "refused"),
    (MailUnreachable("down"), True, False, "offline"),
    (MailAuthFailed("535"), False, False, "auth"),
    (MailTlsUnavailable("no starttls"), False, False, "tls"),
    (MailMaybeSent("cut"), True, False, "maybe_sent"),
]


@pytest.mark.parametrize(("error", "retryable", "refused", "kind"), FAILURES,
                         ids=[f[3] for f in FAILURES])
def test_what_a_filing_failure_means(error, retryable, refused, kind):
    failure = classify(error)
    assert (failure.retryable, failure.claim_refused, failure.kind) == (retryable, refused, kind)


def test_the_cloud_request_matches_the_contract():
    spec = yaml.safe_load(Path(__file__).resolve().parents[2].joinpath("docs", "openapi.yaml")
                          .read_text())
    schema = {"$ref": "#/components/schemas/RefundRequestCreate",
              "components": spec["components"]}
    body = cloud_request(claim(1), Identity("demo@booth.example", "Booth 1"))
    jsonschema.validate(body, schema)
    assert body["failed_at"] == "2025-06-12T21:16:02Z" and body["amount_cents"] == 150
    assert "bcm-1" in body["details"] and "connection lost" in body["details"]
    unnamed = cloud_request(claim(2), Identity("demo@booth.example", ""))
    jsonschema.validate(unnamed, schema)  # an empty booth name is sent as null, not ""


def test_one_letter_for_several_claims_has_everything_support_needs():
    claims = [claim(1), claim(2, feature="ai_headshot", cents=200)]
    letter = compose(claims, "demo@booth.example", "Booth 1")
    assert "2 AI jobs" in letter.subject and "$3.50" in letter.subject
    body = letter.body
    for text in ("demo@booth.example", "Booth 1", "Draw Me", "AI headshot", "$1.50", "$2.00",
                 "2025-06-12 21:15:31", "2025-06-12 21:15:33", "2025-06-12 21:16:02",
                 "le_0001", "le_0002", "job_1", "connection lost mid-upload", "UTC"):
        assert text in body, text
    table = body.splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("#"))
    assert table[header + 2].split()[:4] == ["1", "Draw", "Me", "$1.50"]
    rows = list(csv.DictReader(io.StringIO(letter.csv_text)))
    assert [r["ledger_entry_id"] for r in rows] == ["le_0001", "le_0002"]
    assert rows[0]["account_email"] == "demo@booth.example"
    assert rows[1]["charged_at"] == "2025-06-12T21:16:33Z"
    doc = json.loads(letter.json_text)
    assert doc["total_cents"] == 350 and doc["claims"][0]["failed_at"] == "2025-06-12T21:16:02Z"


def test_the_export_keeps_formulas_out_of_spreadsheets():
    risky = replace(claim(1), error='=HYPERLINK("http://x")')
    rows = list(csv.DictReader(io.StringIO(export_csv([risky]))))
    assert rows[0]["error"].startswith("'=") and rows[0]["amount_cents"] == "150"
