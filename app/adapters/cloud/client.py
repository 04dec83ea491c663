"""The cloud contract over HTTPS (httpx). Every failure leaves here as an app.core.errors type.

TLS is always verified (httpx's default, never switched off). Redirects are not followed: the API
never redirects, so a redirect means a Wi-Fi login page or a proxy stepped in.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from app import __version__
from app.adapters.cloud.wire import (
    account_from_json,
    balance_from_json,
    ledger_page_from_json,
)
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
from app.core.model import Account, Balance, LedgerPage
from app.core.status import iso

log = logging.getLogger(__name__)

LOGIN_PAGE_HINT = "A Wi-Fi login page is likely: open a browser and log in to the venue network."
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=30.0, pool=5.0)


class HttpCloud:
    def __init__(self, base_url: str, token: str | None, *, timeout: httpx.Timeout | None = None,
                 transport: httpx.BaseTransport | None = None):
        """`transport`: app/adapters/cloud/transport.py's CloudTransport (pacing, passive
        bandwidth readings) in the app; httpx's own when left out."""
        if not base_url:
            raise NotConfigured("No cloud URL is set.", hint="Set it in Settings or with --cloud.")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout or DEFAULT_TIMEOUT,
            follow_redirects=False,
            headers={"User-Agent": f"booth-credit-monitor/{__version__}"},
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    @property
    def token(self) -> str | None:
        """For the bandwidth probe, which speaks raw HTTP/1.1 to the same cloud."""
        return self._token

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    # -- the contract -------------------------------------------------------------------------

    def get_account(self) -> Account:
        return account_from_json(self.request_json("GET", "/v1/account"))

    def get_balance(self) -> Balance:
        return balance_from_json(self.request_json("GET", "/v1/balance"))

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

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if not self._token:
            raise NotConfigured("No API token is set.",
                                hint="Enter it in Settings (or set BOOTH_MONITOR_TOKEN).")
        headers = {"Authorization": f"Bearer {self._token}", **kwargs.pop("headers", {})}
        try:
            response = self._client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        self._raise_for_status(response)
        return response

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
        problem = self._problem(response)
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
    def _problem(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
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
            raise ProtocolError(f"The cloud at {self.host} sent an unreadable answer.") from None
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


def answers_health(base_url: str, timeout: float = 1.0) -> bool:
    """Does a cloud answer GET /v1/health with status ok? No token is sent (the route is
    public) and no proxy is used: it is for a demo cloud on this PC, found by its address file."""
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            response = client.get(f"{base_url.rstrip('/')}/v1/health")
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
