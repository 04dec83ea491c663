"""Sends one alert to one Apprise URL.

Apprise logs request URLs, payloads and hosts, which for most services contain the secret
(an ntfy topic, a Pushover key, a bot token): its logger is cut off from the app's log, and
its output is read only here, to pick the words of the failure, never copied into them.
Apprise is imported at the first send, not with the app: importing it and loading its plugins
costs about 40 MB, which a booth without phone alerts should never pay.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from app.core.errors import AlertNotSent, BadAlertAddress

# Never into monitor.log or the console: the records carry URLs. LogCapture below still sees them.
# urllib3 (under Apprise's requests; the app's own HTTP is httpx) names hosts and paths too.
for _name in ("apprise", "urllib3"):
    logging.getLogger(_name).propagate = False

if TYPE_CHECKING:
    import apprise

# Apprise's notify types (NotifyType values), by our severities.
NOTIFY_TYPES = {"info": "info", "warning": "warning", "critical": "failure"}
# Scheme -> what Settings and messages call the service (the scheme is no secret; the rest is).
SERVICES = {"ntfy": "ntfy", "ntfys": "ntfy", "pover": "Pushover", "tgram": "Telegram",
            "mailto": "e-mail", "mailtos": "e-mail", "json": "JSON", "jsons": "JSON",
            "form": "webhook", "forms": "webhook", "xml": "webhook", "xmls": "webhook",
            "discord": "Discord", "slack": "Slack", "signal": "Signal", "signals": "Signal",
            "gotify": "Gotify", "gotifys": "Gotify", "msteams": "Teams", "whatsapp": "WhatsApp"}
# (pattern in Apprise's log, what the operator reads), first match wins. Words, not bare
# numbers: a port such as 40139 must not read as HTTP 401.
FAILURES = (
    (re.compile(r"authenticat|unauthori[sz]ed|forbidden|credential|error=40[13]\b"),
     "refused the credentials in its address"),
    (re.compile(r"timed out|timeout"), "did not answer in time"),
    (re.compile(r"connection error|refused|resolve|name or service|unreachable|network is|"
                r"could not connect|socket"),
     "could not be reached (no network, or the service is down)"),
    (re.compile(r"error=\d{3}\b|bad request|rejected"), "refused the alert"),
)


def _app(url: str) -> apprise.Apprise:
    import apprise

    # Memory-only storage and no plugin folders: nothing of Apprise lands on the booth's disk,
    # and no code from ~/.apprise is loaded into the monitor.
    asset = apprise.AppriseAsset(storage_mode="memory", plugin_paths=[])
    app = apprise.Apprise(asset=asset)
    if not app.add(url):
        raise BadAlertAddress(
            "An alert address is not one Apprise understands.",
            hint="Check it in Settings → Phone alerts (for example ntfy://my-topic or "
            "mailto://user:password@example.com).")
    return app


def service_label(url: str, position: int) -> str:
    """'ntfy address 1': how messages and Settings name a URL without showing it (from its
    scheme alone, so that naming one does not load Apprise)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme.isalnum():
        return f"address {position} (not understood)"
    return f"{SERVICES.get(scheme, scheme)} address {position}"


class AppriseSender:
    def send(self, url: str, label: str, title: str, body: str, severity: str) -> None:
        """Deliver one alert; raises AlertNotSent or BadAlertAddress, naming only `label`."""
        from apprise import LogCapture

        app = _app(url)
        with LogCapture(level=logging.DEBUG) as output:
            try:
                ok = bool(app.notify(title=title, body=body,
                                     notify_type=NOTIFY_TYPES.get(severity, "warning")))
            except Exception as exc:  # a plugin's bug must not end the relay
                raise AlertNotSent(f"{_first_up(label)} failed ({type(exc).__name__}).",
                                   hint="It is tried again later.") from None
            text = output.getvalue().lower()
        if not ok:
            raise AlertNotSent(f"{_first_up(label)} {_reason(text)}.",
                               hint="It is tried again later; Settings → Phone alerts → "
                               "Send a test alert checks it now.")


def _reason(log_text: str) -> str:
    # The payload and URL lines hold our own alert text ("the cloud refused the token"), not
    # what went wrong.
    lines = "\n".join(line for line in log_text.splitlines()
                      if "payload" not in line and "url:" not in line)
    for pattern, reason in FAILURES:
        if pattern.search(lines):
            return reason
    return "did not take the alert"


def _first_up(text: str) -> str:
    return text[:1].upper() + text[1:]
