"""Where the vendor has only email: the same requests as letters, through the refund claims' SMTP
path, to a real SMTP server (aiosmtpd) that requires STARTTLS and a login."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from app.core.support_requests import RequestStatus
from app.democloud.images import make_png
from app.orchestration.refund_path import set_smtp_password
from app.orchestration.request_relay import GuardPolicy
from tests.guard.conftest import cloud_requests, scenario
from tests.refunds.conftest import SMTP_PASSWORD, SUPPORT, MailServer
from tests.refunds.timers import FAST


def by_email(guarded, cloud, mail: MailServer, **guard):
    g = guarded(cloud.url, guard={"ssl_context": mail.client_context, **guard},
                **mail.settings())
    set_smtp_password(g.booth.runtime, SMTP_PASSWORD)
    return g


def parts(message) -> dict:
    return {p.get_filename() or p.get_content_type(): p for p in message.walk()
            if not p.is_multipart()}


def test_a_lost_purchase_is_one_letter_with_the_receipt_and_the_account_email(
        cloud, guarded, mail_server: MailServer):
    g = by_email(guarded, cloud, mail_server)
    paid = scenario(cloud, "lost-purchase", amount_cents=5000)
    report = g.run()
    (req,) = g.requests()
    assert req.status is RequestStatus.FILED and req.channel == "email"
    (message,) = mail_server.messages()
    assert message["To"] == SUPPORT and message["Reply-To"] == "demo@booth.example"
    assert message["Subject"].startswith(f"Purchase not credited: receipt {paid['receipt']}")
    body = parts(message)["text/plain"].get_content()
    assert paid["receipt"] in body and "$50.00" in body and "demo@booth.example" in body
    assert req.id in body
    doc = json.loads(parts(message)["support-request.json"].get_content())
    assert doc["receipt"] == paid["receipt"] and doc["kind"] == "missing_purchase"
    assert [n.title for n in report.notices] == ["Support asked"]
    assert SUPPORT in report.notices[0].message
    assert cloud_requests(cloud) == []  # email only

    g.booth.close()
    again = by_email(guarded, cloud, mail_server)
    again.run()
    assert len(mail_server.received) == 1  # a restart sends nothing again


def test_a_dispute_letter_carries_the_entries_and_the_screenshot_of_the_balance(
        cloud, guarded, mail_server: MailServer):
    g = by_email(guarded, cloud, mail_server,
                 policy=GuardPolicy(filing=FAST, screenshot_wait=timedelta(minutes=2)))
    taken = scenario(cloud, "unexplained-deduction", amount_cents=2000)
    g.run()
    (waiting,) = g.path.wanting_screenshot()  # held for the tray app's screenshot
    assert waiting.status is RequestStatus.PENDING and mail_server.received == []
    png = make_png(40, 20)
    assert g.path.attach_screenshot(waiting.id, png)
    g.run()
    (message,) = mail_server.messages()
    found = parts(message)
    assert found["balance.png"].get_content() == png
    rows = list(csv.DictReader(io.StringIO(found["usage-entries.csv"].get_content())))
    assert [r["id"] for r in rows] == [taken["id"]] and rows[0]["amount_cents"] == "-2000"
    body = found["text/plain"].get_content()
    assert "Expected balance" in body and "Actual balance" in body and "Noticed" in body
    assert "screenshot of the balance" in body
    assert not g.path.attach_screenshot(waiting.id, png)  # sent: nothing joins it any more
