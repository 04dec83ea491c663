"""A phone alert by e-mail: Apprise's mailto target against the refund tests' SMTP server
(aiosmtpd, STARTTLS with a test CA, a password), and its failures in operator words."""

from __future__ import annotations

import pytest

from app.core.alerts import Alert
from app.orchestration.alert_path import AlertPath
from app.orchestration.alert_targets import save_targets
from app.runtime import utc_now
from tests.refunds.conftest import SMTP_PASSWORD, mail_server  # noqa: F401 (a fixture)

HELD = Alert("held", "Slow link: photos held", "3 photos held.", "warning", lasting=True)


def mail_url(mail, password: str = SMTP_PASSWORD) -> str:
    return (f"mailtos://booth:{password}@{mail.host}:{mail.port}?mode=starttls"
            "&from=booth@ops.example&to=operator@example.com")


@pytest.fixture
def trust_test_ca(mail_server, monkeypatch):  # noqa: F811
    # Apprise verifies the server with the default CA store; the test CA stands in for it.
    monkeypatch.setenv("SSL_CERT_FILE", str(mail_server.ca_file))


def test_an_alert_arrives_by_email_with_starttls_and_the_password(
        runtime, mail_server, trust_test_ca):  # noqa: F811
    save_targets(runtime, [mail_url(mail_server)])
    path = AlertPath(runtime)
    path.take([HELD], utc_now())
    runtime.cache.set_active_alert_keys(set())
    # "held" is the queue's own condition: a held photo in the store keeps it active.
    report = path.deliver(utc_now())
    assert report.dropped  # no photo is held in this store: the condition is not there
    path.take([Alert("refund-refunded:c9", "Credits refunded", "$1.50 is back.", "info")],
              utc_now())
    assert len(path.deliver(utc_now()).sent) == 1
    (message,) = mail_server.messages()
    assert message["Subject"] == "Booth A: Credits refunded"
    assert message["To"] == "operator@example.com"
    assert "alert #2" in message.get_body().get_content()
    assert mail_server.logins[-1].endswith(":ok")


def test_a_wrong_mail_password_is_said_in_words_without_the_url(
        runtime, mail_server, trust_test_ca):  # noqa: F811
    save_targets(runtime, [mail_url(mail_server, "wrong-pass-9931")])
    outcome, = AlertPath(runtime).send_test()
    assert not outcome.ok
    assert "wrong-pass-9931" not in outcome.message and str(mail_server.port) not in outcome.message
    assert outcome.message.startswith("E-mail address 1 refused the credentials"), outcome.message
