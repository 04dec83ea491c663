"""RFC 9457 problem details: every error the cloud sends, with a stable machine `code`."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

PROBLEM_TYPE = "application/problem+json"


class ApiError(Exception):
    """Raised anywhere below the router; the router turns it into one problem response."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}
        # Set when the request body was left unread, so the connection cannot be reused.
        self.close = close

    def body(self) -> bytes:
        return problem_body(self.status, self.code, self.detail, self.extra)


def problem_body(status: int, code: str, detail: str, extra: dict[str, Any] | None = None) -> bytes:
    # "about:blank" makes the title the HTTP phrase (RFC 9457 4.2.1); clients switch on `code`.
    doc: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    for key, value in (extra or {}).items():
        doc.setdefault(key, value)
    return json.dumps(doc).encode()


def bad_request(detail: str) -> ApiError:
    return ApiError(400, "bad_request", detail)


def unprocessable(detail: str, code: str = "unprocessable") -> ApiError:
    return ApiError(422, code, detail)


def not_found(detail: str = "No such resource.") -> ApiError:
    return ApiError(404, "not_found", detail)


def conflict(code: str, detail: str, **extra: Any) -> ApiError:
    return ApiError(409, code, detail, extra=extra)
