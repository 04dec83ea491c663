"""Claims sent by email to a real SMTP server (aiosmtpd) that requires STARTTLS and a login,
with a certificate from a test CA the booth is told to trust."""

from __future__ import annotations

import csv
import io
import json
import ssl
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from app.core.refunds import ClaimStatus
from app.democloud.server import DemoCloud
from app.orchestration.refund_path import set_smtp_password
from tests.conftest import wait_until
from tests.refunds.conftest import (
    FAST,
    SMTP_PASSWORD,
    SUPPORT,
    TOKEN,
    Booth,
    MailServer,
    refund_requests,
    start_mail_server,
)


def booth_with_failures(booths, cloud: DemoCloud, mail: MailServer, *, password=SMTP_PASSWORD,
                        context: ssl.SSLContext | None = None, **settings) -> Booth:
    booth = booths(cloud.url, ssl_context=context, **mail.settings(**settings))
    set_smtp_password(booth.runtime, password)
    booth.run_jobs(6)
    booth.sync()
    return booth


def statuses(booth: Booth) -> set[ClaimStatus]:
    return {c.status for c in booth.refunds.claims()}


def test_one_message_with_every_claim_reaches_support(cloud, booths, mail_server: MailServer):
    # The CA file setting (not an injected context): what an operator with a company relay sets.
    booth = booth_with_failures(booths, cloud, mail_server, smtp_ca_file=str(mail_server.ca_file))
    report = booth.refunds.cycle()
    claims = booth.refunds.claims()
    assert len(claims) == 3 and statuses(booth) == {ClaimStatus.FILED}
    assert all(c.channel == "email" and c.filed_at is not None for c in claims)
    assert mail_server.logins in (["PLAIN:ok"], ["LOGIN:ok"])
    (message,) = mail_server.messages()
    assert message["To"] == SUPPORT and message["From"] == mail_server.settings()["smtp_from"]
    assert message["Reply-To"] == "demo@booth.example"  # from the synced account
    assert "3 AI jobs" in message["Subject"] and "$4.50" in message["Subject"]
    (stored,) = booth.refunds.repo.mail.messages()
    assert message["Message-ID"] == stored["message_id"] and stored["state"] == "sent"

    parts = {p.get_filename() or p.get_content_type(): p for p in message.walk()
             if not p.is_multipart()}
    body = parts["text/plain"].get_content()
    for claim in claims:
        assert claim.ledger_entry_id in body and claim.cloud_job_id in body
        for moment in (claim.submitted_at, claim.charged_at, claim.failed_at):
            assert moment is not None and moment.strftime("%Y-%m-%d %H:%M:%S") in body
    assert "demo@booth.example" in body and "Booth 1" in body and "Draw Me" in body
    rows = list(csv.DictReader(io.StringIO(parts["refund-claims.csv"].get_content())))
    assert {r["ledger_entry_id"] for r in rows} == {c.ledger_entry_id for c in claims}
    doc = json.loads(parts["refund-claims.json"].get_content())
    assert doc["total_cents"] == 450 and len(doc["claims"]) == 3
    assert [n.title for n in report.notices] == ["Refund requested"]
    assert SUPPORT in report.notices[0].message
    assert refund_requests(cloud) == {}  # email only: the cloud's endpoint was not used

    # Support acts on the mail: the refunds land in the usage history, the claims close.
    for claim in claims:
        httpx.post(f"{cloud.url}/v1/refund-requests", timeout=5, headers={
            "Authorization": f"Bearer {TOKEN}", "Idempotency-Key": f"support-{claim.id}"},
            json={"ledger_entry_id": claim.ledger_entry_id, "feature": claim.feature,
                  "amount_cents": claim.amount_cents, "charged_at": "2025-01-01T00:00:00Z",
                  "reason": "support desk", "account_email": "demo@booth.example"}
        ).raise_for_status()

    def refunded() -> bool:
        booth.sync()
        report.notices.extend(booth.refunds.cycle().notices)
        return statuses(booth) == {ClaimStatus.REFUNDED}

    wait_until(refunded, timeout=15, step=0.2)
    assert sum(n.title == "Credits refunded" for n in report.notices) == 3
    assert booth.refunds.summary().text() == "3 failed jobs, $4.50 claimed, $4.50 refunded"
    assert len(mail_server.received) == 1


def test_a_refused_login_keeps_claims_pending_and_tells_the_operator(cloud, booths,
                                                                     mail_server: MailServer):
    booth = booth_with_failures(booths, cloud, mail_server, password="wrong-password",
                                context=mail_server.client_context)
    report = booth.refunds.cycle()
    assert statuses(booth) == {ClaimStatus.PENDING} and mail_server.received == []
    (problem,) = report.problems
    assert problem.key == "refund-problem:email:auth" and "3 claims waiting" in problem.message
    assert "refused the login" in problem.message and "password" in problem.message
    assert "wrong-password" not in problem.message + str(booth.refunds.repo.attempts())

    set_smtp_password(booth.runtime, SMTP_PASSWORD)  # the operator fixes it in Settings
    booth.refunds.settings_changed()
    assert booth.refunds.cycle().problems == []
    assert statuses(booth) == {ClaimStatus.FILED} and len(mail_server.received) == 1


# aiosmtpd warns about a server that takes AUTH without STARTTLS: that server is the point here.
NO_STARTTLS = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@NO_STARTTLS
def test_a_server_without_starttls_gets_nothing_in_the_clear(cloud, booths, tmp_path):
    plain = start_mail_server(tmp_path, starttls=False)
    try:
        booth = booth_with_failures(booths, cloud, plain, context=plain.client_context)
        report = booth.refunds.cycle()
        assert statuses(booth) == {ClaimStatus.PENDING}
        assert plain.received == [] and plain.logins == []  # not even the password
        (problem,) = report.problems
        assert problem.key == "refund-problem:email:tls" and "STARTTLS" in problem.message
    finally:
        assert plain.controller is not None
        plain.controller.stop()


def test_a_certificate_the_booth_cannot_verify_is_refused(cloud, booths, mail_server):
    booth = booth_with_failures(booths, cloud, mail_server)  # no test CA trusted
    report = booth.refunds.cycle()
    assert statuses(booth) == {ClaimStatus.PENDING} and mail_server.received == []
    (problem,) = report.problems
    assert problem.key == "refund-problem:email:tls_certificate"
    assert "verified" in problem.message
    # Issue 10 #13: the server does offer encryption; telling the operator it does not sends
    # them to the wrong fix.
    assert "offers no encryption" not in problem.message
    assert "smtp_ca_file" in problem.message


@NO_STARTTLS  # implicit TLS: the session is encrypted from the start, no STARTTLS to require
def test_implicit_tls_on_its_own_port(cloud, booths, tmp_path):
    tls = start_mail_server(tmp_path, starttls=False, implicit_tls=True)
    try:
        booth = booth_with_failures(booths, cloud, tls, context=tls.client_context,
                                    smtp_security="tls")
        booth.refunds.cycle()
        assert statuses(booth) == {ClaimStatus.FILED} and len(tls.received) == 1
    finally:
        assert tls.controller is not None
        tls.controller.stop()


def test_an_unanswered_message_goes_again_with_the_same_message_id(cloud, booths, mail_server):
    booth = booth_with_failures(booths, cloud, mail_server, context=mail_server.client_context)
    mail_server.drop_after_data = 1
    booth.refunds.cycle()
    assert statuses(booth) == {ClaimStatus.PENDING}  # it may have arrived: not "filed" yet
    wait_until(lambda: booth.refunds.cycle() and statuses(booth) == {ClaimStatus.FILED},
               step=0.05)
    first, second = mail_server.messages()
    assert first["Message-ID"] == second["Message-ID"]  # support can tell it is one request
    assert first.as_bytes() == second.as_bytes()


def test_email_waits_to_gather_an_events_claims(cloud, booths, mail_server):
    booth = booths(cloud.url, ssl_context=mail_server.client_context,
                   policy=replace(FAST, email_delay=timedelta(minutes=30)),
                   **mail_server.settings())
    set_smtp_password(booth.runtime, SMTP_PASSWORD)
    booth.run_jobs(6)
    booth.sync()
    booth.refunds.cycle()
    assert statuses(booth) == {ClaimStatus.PENDING} and mail_server.received == []
    booth.refunds.cycle(file_now=True)  # `refunds --file-now`, or the end of the event
    assert statuses(booth) == {ClaimStatus.FILED} and len(mail_server.received) == 1


def test_both_channels_file_each_claim_once_on_each(cloud, booths, mail_server):
    booth = booth_with_failures(booths, cloud, mail_server, context=mail_server.client_context,
                                refund_channel="both")
    booth.refunds.cycle()
    claims = booth.refunds.claims()
    assert {c.channel for c in claims} == {"cloud+email"}
    assert refund_requests(cloud) == {c.ledger_entry_id: 1 for c in claims}
    assert len(mail_server.received) == 1
    booth.refunds.cycle()
    assert len(mail_server.received) == 1 and len(refund_requests(cloud)) == 3


def test_without_a_sender_address_the_account_email_sends(cloud, booths, mail_server):
    booth = booth_with_failures(booths, cloud, mail_server, context=mail_server.client_context,
                                smtp_username="booth", smtp_from="")  # a login, not an address
    booth.refunds.cycle()
    (message,) = mail_server.messages()
    assert message["From"] == "demo@booth.example" and message["Reply-To"] is None
    assert statuses(booth) == {ClaimStatus.FILED}
