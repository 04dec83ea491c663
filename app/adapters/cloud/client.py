"""The cloud contract over HTTPS (httpx). Every failure leaves here as an app.core.errors type.

TLS is always verified (httpx's default, never switched off). A plain http:// URL is refused
unless it points at this PC (the demo cloud) or the operator opted in with
`allow_insecure_http`: the bearer token would cross the network in clear. A URL with a user name
or password in it is refused without repeating them (the token from Settings is what signs in).
Redirects are not followed: the API never redirects, so a redirect means a Wi-Fi login page or a
proxy stepped in. No answer is read beyond a cap before it is judged (MAX_ANSWER_BYTES).

Every answer's Date header also tells how far the booth's clock is from the cloud's
(`clock_offset`): the moments a refund request cites are on the cloud's clock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from app import __version__
from app.adapters.cloud.wire import (
    account_from_json,
    balance_from_json,
    features_from_json,
    ledger_page_from_json,
)
from app.core.cloud_address import is_loopback_host, redact_url
from app.core.errors import (
    AuthFailed,
    CaptivePortal,
    CloudUnavailable,
    CloudUnreachable,
    InsufficientCredits,
    MonitorError,
    NotConfigured,
    ProtocolError,
    RequestRejected,
)
from app.core.model import Account, Balance, FeatureInfo, LedgerPage
from app.core.status import iso

log = logging.getLogger(__name__)

LOGIN_PAGE_HINT = "A Wi-Fi login page is likely: open a browser and log in to the venue network."
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=30.0, pool=5.0)
# A 500-entry ledger page is about 300 kB; anything far larger is not the contract talking.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
MAX_PROBLEM_BYTES = 64 * 1024
# Only answers that came back this quickly measure the clock offset: the Date header is stamped
# somewhere between sending and receiving, so a slow round trip blurs it.
CLOCK_SAMPLE_MAX_RTT = 2.0


class AnswerTooLarge(ProtocolError):
    """The answer exceeded what this kind of request can legitimately return."""


def check_cloud_url(url: str, *, allow_insecure_http: bool = False) -> None:
    """Raise NotConfigured for a URL the token must not be sent to."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise NotConfigured("The cloud URL contains a user name or password.",
                            hint="Remove them from the URL; the monitor signs in with the API "
                            "token from Settings.")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise NotConfigured(f"The cloud URL {redact_url(url)!r} is not an http(s) address.",
                            hint="Use https://cloud.example.com in Settings or --cloud.")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname) \
            and not allow_insecure_http:
        raise NotConfigured(
            f"The cloud URL {redact_url(url)} uses plain http://: the API token would cross "
            "the network unencrypted.",
            hint="Use https://. Only on a network you trust completely, set "
            '"allow_insecure_http": true in settings.json.')


class HttpCloud:
    def __init__(self, base_url: str, token: str | None, *, timeout: httpx.Timeout | None = None,
                 allow_insecure_http: bool = False, booth_id: str = "",
                 transport: httpx.BaseTransport | None = None,
                 wall: Callable[[], datetime] | None = None):
        """`transport`: app/adapters/cloud/transport.py's CloudTransport (pacing, passive
        bandwidth readings) in the app; httpx's own when left out. `wall`: this PC's clock
        (tests step it), against which the cloud's clock offset is measured."""
        self._wall = wall or (lambda: datetime.now(timezone.utc))
        if not base_url:
            raise NotConfigured("No cloud URL is set.", hint="Set it in Settings or with --cloud.")
        check_cloud_url(base_url, allow_insecure_http=allow_insecure_http)
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            log.warning("the cloud URL %s is plain http (allowed by allow_insecure_http): the "
                        "token is sent unencrypted", self.base_url)
        self._token = token
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout or DEFAULT_TIMEOUT,
            follow_redirects=False,
            # The contract's X-Booth-Id on every request, not only on jobs: the cloud's logs,
            # rate limits and support can then tell the account's booths apart.
            headers={"User-Agent": f"booth-credit-monitor/{__version__}",
                     **({"X-Booth-Id": booth_id} if booth_id else {})},
            transport=transport,
        )
        self.clock_offset: float | None = None  # cloud clock minus booth clock, seconds
        self.clock_offset_at: datetime | None = None

    def close(self) -> None:
        self._client.close()

    @property
    def token(self) -> str | None:
        """For the bandwidth probe, which speaks raw HTTP/1.1 to the same cloud."""
        return self._token

    @property
    def host(self) -> str:
        parts = urlsplit(self.base_url)
        return (parts.hostname or "") + (f":{parts.port}" if parts.port else "")

    def cloud_now(self) -> datetime:
        """The cloud's time as far as the booth can tell (its own clock if never measured)."""
        return self._wall() + timedelta(seconds=self.clock_offset or 0.0)

    # -- the contract -------------------------------------------------------------------------

    def get_account(self) -> Account:
        return account_from_json(self.request_json("GET", "/v1/account"))

    def get_balance(self) -> Balance:
        return balance_from_json(self.request_json("GET", "/v1/balance"))

    def get_features(self) -> tuple[FeatureInfo, ...] | None:
        """The cloud's AI features, or None when this cloud has no feature list (404)."""
        try:
            return features_from_json(self.request_json("GET", "/v1/features"))
        except RequestRejected as error:
            if error.status == 404:
                return None
            raise

    def get_ledger(self, *, cursor: str | None, since: datetime | None, limit: int) -> LedgerPage:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if since is not None:
            params["since"] = iso(since) or ""
        return ledger_page_from_json(self.request_json("GET", "/v1/ledger", params=params))

    # -- plumbing -----------------------------------------------------------------------------

    def request_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, **kwargs)
        return self._json_body(response)

    def request(self, method: str, path: str, *, limit: int = MAX_ANSWER_BYTES,
                **kwargs: Any) -> httpx.Response:
        """The answer, read whole but never beyond `limit` bytes."""
        with self.stream(method, path, **kwargs) as response:
            body = b"".join(read_capped(response, limit, self.host))
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() != "content-encoding"]  # already decoded
        return httpx.Response(response.status_code, headers=headers, content=body,
                              request=response.request)

    @contextlib.contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A successful answer whose body is still to be read (read it with read_capped)."""
        if not self._token:
            raise NotConfigured("No API token is set.",
                                hint="Enter it in Settings (or set BOOTH_MONITOR_TOKEN).")
        headers = {"Authorization": f"Bearer {self._token}", **kwargs.pop("headers", {})}
        try:
            sent = time.monotonic()
            wall = self._wall()
            response = self._client.send(
                self._client.build_request(method, path, headers=headers, **kwargs), stream=True)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        try:
            self._note_clock(response.headers.get("date"), wall, time.monotonic() - sent)
            self._raise_for_status(response)
            yield response
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        finally:
            response.close()

    def _note_clock(self, date: str | None, sent_at: datetime, rtt: float) -> None:
        if not date or rtt > CLOCK_SAMPLE_MAX_RTT:
            return
        try:
            stamped = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return
        if stamped.tzinfo is None:
            return
        # Date has whole seconds (truncated): its moment is on average half a second later.
        midpoint = sent_at + timedelta(seconds=rtt / 2)
        self.clock_offset = (stamped - midpoint).total_seconds() + 0.5
        self.clock_offset_at = midpoint

    def _transport_error(self, exc: httpx.HTTPError) -> MonitorError:
        # Build the text ourselves: library messages can carry URLs with query strings.
        text = str(exc).lower()
        if "certificate" in text or "ssl" in text:
            return CaptivePortal(
                f"The secure connection to {self.host} could not be verified.",
                hint="A Wi-Fi login page or a proxy may be in the way: open a browser and log in "
                "to the venue network.",
            )
        if isinstance(exc, httpx.TimeoutException):
            return CloudUnreachable(f"The cloud at {self.host} did not answer in time.",
                                    hint="The venue network may be slow or down.")
        if isinstance(exc, httpx.ConnectError):
            return CloudUnreachable(f"Cannot connect to the cloud at {self.host}.",
                                    hint="Check the booth's network connection.")
        log.info("transport failure talking to %s: %s", self.host, type(exc).__name__)
        return CloudUnreachable(f"The connection to {self.host} broke off before the cloud "
                                "answered.", hint="The venue network may be unstable.")

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if 300 <= status < 400:
            raise CaptivePortal(
                f"The network redirected the request for {self.host} elsewhere.",
                hint=LOGIN_PAGE_HINT,
            )
        if status < 300:
            return
        problem = self._problem(response, self.host)
        code = str(problem.get("code") or "")
        detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        retry_after = _retry_after(response)
        if status == 401:
            if code == "token_expired":
                raise AuthFailed("The cloud says the API token has expired.",
                                 hint="Create a new token in the cloud dashboard and enter it in "
                                 "Settings.")
            raise AuthFailed("The cloud refused the API token.",
                             hint="Check the token in Settings.")
        if status == 402:
            raise InsufficientCredits("Not enough credits for this.",
                                      hint="Buy credits in the cloud dashboard.")
        if status == 429:
            raise CloudUnavailable("The cloud asked us to slow down.", retry_after=retry_after)
        if status >= 500:
            raise CloudUnavailable(f"The cloud is having trouble (HTTP {status}).",
                                   hint="It will be retried.", retry_after=retry_after)
        raise RequestRejected(f"The cloud refused the request: {detail}", code=code, status=status)

    @staticmethod
    def _problem(response: httpx.Response, host: str) -> dict[str, Any]:
        try:
            body = json.loads(b"".join(read_capped(response, MAX_PROBLEM_BYTES, host)))
        except (ValueError, MonitorError, httpx.HTTPError):
            return {}
        return body if isinstance(body, dict) else {}

    def _json_body(self, response: httpx.Response) -> dict[str, Any]:
        ctype = response.headers.get("content-type", "").lower()
        if "html" in ctype:
            raise CaptivePortal(
                f"A web page answered instead of the cloud at {self.host}.",
                hint=LOGIN_PAGE_HINT,
            )
        try:
            body = response.json()
        except ValueError:
            # Not JSON at all (often a body cut off on the way): it did not come from the cloud
            # as the contract describes, so the cloud counts as not reached (§3), not as wrong.
            raise CloudUnreachable(f"The answer from {self.host} was cut off or is not the "
                                   "cloud's.", hint="The venue network may be unstable or "
                                   "a proxy may be in the way; it is tried again.") from None
        if not isinstance(body, dict):
            raise ProtocolError(f"The cloud at {self.host} sent an answer of the wrong form.")
        return body


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def read_capped(response: httpx.Response, limit: int, host: str) -> Iterator[bytes]:
    """The body's (decoded) bytes, refusing as soon as it is known to exceed `limit`."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit and not response.headers.get(
            "content-encoding"):
        raise AnswerTooLarge(f"The answer from {host} is larger than {limit} bytes; it was not "
                             "read.")
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > limit:
            raise AnswerTooLarge(f"The answer from {host} is larger than {limit} bytes; it was "
                                 "not read further.")
        yield chunk


def answers_health(base_url: str, timeout: float = 1.0) -> bool:
    """Does a cloud answer GET /v1/health with status ok? No token is sent (the route is
    public) and no proxy is used: it is for a demo cloud on this PC, found by its address file."""
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            response = client.get(f"{base_url.rstrip('/')}/v1/health")
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
