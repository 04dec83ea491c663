"""Refund requests by email: the MIME message, and one SMTP session to hand it over (smtplib).

Encryption is required by default: STARTTLS on the submission port, or TLS from the first byte
("tls", port 465), always with a verified ssl.create_default_context(). A server that offers no
STARTTLS is refused, never talked to in the clear; only the explicit setting "none_insecure"
allows plain text. The password comes from the keyring at send time and is never part of an
error message (messages are built here from status codes, not from library text).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime

from app.core.errors import NotConfigured
from app.core.refund_filing import (
    MailAuthFailed,
    MailCertificateRefused,
    MailMaybeSent,
    MailRefused,
    MailTemporary,
    MailTlsUnavailable,
    MailUnreachable,
)
from app.core.refund_letter import Letter

log = logging.getLogger(__name__)

SECURITY = ("starttls", "tls", "none_insecure")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    security: str = "starttls"  # starttls | tls | none_insecure
    username: str = ""
    sender: str = ""
    ca_file: str = ""  # also trust this CA (a company relay with its own CA)
    timeout: float = 30.0


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """Verified: the system's CAs, plus the configured CA file if there is one."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError):
            raise NotConfigured(f"The mail server CA file {ca_file} cannot be read.",
                                hint="Fix or clear it in Settings.") from None
    return context


def compose(letter: Letter, *, sender: str, recipient: str, message_id: str, date: datetime,
            reply_to: str = "") -> bytes:
    """The whole message as sent. It is stored before the first attempt, so a re-send after a
    crash is the same bytes with the same Message-ID, which support can recognise as one."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    if reply_to and reply_to.lower() != sender.lower():
        msg["Reply-To"] = reply_to
    msg["Subject"] = letter.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg.set_content(letter.body)
    msg.add_attachment(letter.csv_text.encode(), maintype="text", subtype="csv",
                       filename=letter.csv_name)
    msg.add_attachment(letter.json_text.encode(), maintype="application", subtype="json",
                       filename=letter.json_name)
    for name, mime, data in letter.extra:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream",
                           filename=name)
    return msg.as_bytes(policy=SMTP_POLICY)


class SmtpSender:
    def __init__(self, config: SmtpConfig, password: Callable[[], str | None],
                 context: ssl.SSLContext | None = None):
        self.config = config
        self._password = password
        self._context = context

    def send(self, raw: bytes, recipient: str) -> None:
        """Hand the message over, or raise a MailError saying whether it may have gone."""
        cfg = self.config
        if not cfg.host or not cfg.sender:
            raise NotConfigured("No mail server or sender address is set for refund emails.",
                                hint="Set them in Settings.")
        if cfg.security not in SECURITY:
            raise NotConfigured(f"Unknown mail security setting {cfg.security!r}.",
                                hint="Use starttls or tls.")
        context = self._context or tls_context(cfg.ca_file)
        smtp = self._connect(context)
        try:
            self._secure_and_login(smtp, context)
            self._transfer(smtp, raw, recipient)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def _connect(self, context: ssl.SSLContext) -> smtplib.SMTP:
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        try:
            if cfg.security == "tls":
                return smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
            return smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        except ssl.SSLCertVerificationError:
            raise MailCertificateRefused(f"The certificate of the mail server {where} could not "
                                     "be verified.") from None
        except ssl.SSLError:
            raise MailTlsUnavailable(f"The mail server {where} did not complete a TLS "
                                     "handshake.") from None
        except smtplib.SMTPConnectError as exc:
            raise MailTemporary(f"The mail server {where} refused the session "
                                f"({exc.smtp_code}).") from None
        except (OSError, smtplib.SMTPException):
            raise MailUnreachable(f"Cannot reach the mail server {where}.",
                                  hint="It is retried when the network is back.") from None

    def _secure_and_login(self, smtp: smtplib.SMTP, context: ssl.SSLContext) -> None:
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        try:
            smtp.ehlo()
            if cfg.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise MailTlsUnavailable(f"The mail server {where} does not offer STARTTLS; "
                                             "nothing was sent in the clear.")
                smtp.starttls(context=context)
                smtp.ehlo()
            elif cfg.security == "none_insecure":
                log.warning("sending refund email to %s without encryption (setting)", where)
            if cfg.username:
                password = self._password()
                if not password:
                    raise NotConfigured("No password is stored for the refund email account.",
                                        hint="Enter it in Settings.")
                smtp.login(cfg.username, password)
        except ssl.SSLCertVerificationError:
            raise MailCertificateRefused(f"The certificate of the mail server {where} could not "
                                     "be verified.") from None
        except ssl.SSLError:
            raise MailTlsUnavailable(f"The TLS handshake with {where} failed.") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise MailAuthFailed(f"The mail server {where} refused the login for "
                                 f"{cfg.username} ({exc.smtp_code}).") from None
        except smtplib.SMTPNotSupportedError:
            raise MailAuthFailed(f"The mail server {where} offers no login.") from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, f"The mail server {where} answered "
                           f"{exc.smtp_code} before the message was sent.") from None
        except (OSError, smtplib.SMTPException):
            raise MailUnreachable(f"The connection to the mail server {where} broke off.") \
                from None

    def _transfer(self, smtp: smtplib.SMTP, raw: bytes, recipient: str) -> None:
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        try:
            for verb, code in (("sender", smtp.mail(cfg.sender)[0]),
                               ("recipient", smtp.rcpt(recipient)[0])):
                if code not in (250, 251):
                    raise _by_code(code, f"The mail server {where} refused the {verb} ({code}).")
            data_code, _ = smtp.docmd("DATA")
            if data_code != 354:
                raise _by_code(data_code, f"The mail server {where} refused the message "
                               f"({data_code}).")
        except (OSError, smtplib.SMTPException):
            raise MailUnreachable(f"The connection to the mail server {where} broke off "
                                  "before the message was sent.") from None
        # From here on the server may have the message: a broken connection is "maybe sent".
        try:
            smtp.send(_dot_stuffed(raw))
            code, _ = smtp.getreply()
        except (OSError, smtplib.SMTPException):
            raise MailMaybeSent(f"The connection to {where} broke off while the message was "
                                "being accepted; it will be sent again with the same "
                                "Message-ID.") from None
        if code != 250:
            raise _by_code(code, f"The mail server {where} did not accept the message ({code}).")


def _by_code(code: int, message: str) -> MailRefused | MailTemporary:
    return MailTemporary(message) if 400 <= code < 500 else MailRefused(message)


def _dot_stuffed(raw: bytes) -> bytes:
    """DATA body: CRLF line ends, leading dots doubled, ended by CRLF.CRLF (RFC 5321 4.5.2)."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    body = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    return body + b"\r\n.\r\n"
