"""The Apprise adapter: each failure in words an operator can act on, never with the URL."""

from __future__ import annotations

import pytest

from app.adapters.notify.apprise_sender import AppriseSender, _reason
from app.core.errors import AlertNotSent, BadAlertAddress
from tests.support.alert_receiver import SECRET_TOPIC


@pytest.mark.parametrize(("status", "words"), [
    (401, "refused the credentials in its address"),
    (403, "refused the credentials in its address"),
    (500, "refused the alert"),
])
def test_what_the_service_answered_is_said_in_words(receiver, status, words):
    receiver.status = status
    with pytest.raises(AlertNotSent) as raised:
        AppriseSender().send(receiver.url, "JSON address 1", "t", "b", "info")
    assert raised.value.message == f"JSON address 1 {words}."
    assert SECRET_TOPIC not in str(raised.value) and str(receiver.port) not in str(raised.value)


def test_an_address_apprise_does_not_know_is_not_retried():
    with pytest.raises(BadAlertAddress) as raised:
        AppriseSender().send(f"nosuch://{SECRET_TOPIC}", "nosuch address 1", "t", "b", "info")
    assert not raised.value.retryable and SECRET_TOPIC not in str(raised.value)


@pytest.mark.parametrize(("log", "words"), [
    # A port that contains 401, and our own alert text in the payload, say nothing.
    ("JSON POST URL: http://127.0.0.1:40139/x\nJSON Payload: {'message': 'token refused'}\n"
     "A Connection error occurred sending JSON notification to 127.0.0.1.",
     "could not be reached"),
    ("Connection error while submitting email\n"
     "Socket Exception: (535, b'5.7.8 Authentication credentials invalid')", "credentials"),
    ("Failed to send JSON POST notification: error=404.", "refused the alert"),
    ("Socket Exception: Read timed out. (read timeout=4)", "did not answer in time"),
    ("something new", "did not take the alert"),
])
def test_the_log_is_read_for_its_words_only(log, words):
    assert words in _reason(log.lower())
