"""Request and response values the router works with, and request-body framing.

Bodies are read in small pieces straight off the socket, for both Content-Length and chunked
framing, because the speed test must see bytes as they arrive, not after buffering.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, BinaryIO

from app.democloud.problems import ApiError, bad_request

MAX_JSON_BYTES = 64 * 1024


def _framing_error(detail: str) -> ApiError:
    return ApiError(400, "bad_request", detail, close=True)


class BodyReader:
    def __init__(self, rfile: BinaryIO, headers: Message) -> None:
        self._rfile = rfile
        coding = headers.get("Transfer-Encoding")
        length = headers.get("Content-Length")
        self.chunked = False
        self.expected_length: int | None = 0
        if coding is not None:
            if coding.strip().lower() != "chunked":
                raise _framing_error("Only the chunked transfer coding is supported.")
            self.chunked = True
            self.expected_length = None
        elif length is not None:
            if not length.strip().isdigit():
                raise _framing_error("Content-Length must be a whole number.")
            self.expected_length = int(length)
        self._left = self.expected_length or 0  # bytes left in the body or the current chunk
        self._chunk_open = False
        self.done = not self.chunked and self._left == 0
        self.bytes_read = 0

    def read_some(self, max_bytes: int) -> bytes:
        """Up to max_bytes of whatever has arrived (at least one byte), or b"" at the end."""
        if self.done:
            return b""
        if self.chunked and self._left == 0 and not self._next_chunk():
            return b""
        data = self._rfile.read1(min(max_bytes, self._left))  # type: ignore[attr-defined]
        if not data:
            raise _framing_error("The connection closed in the middle of the request body.")
        self._left -= len(data)
        self.bytes_read += len(data)
        if self._left == 0 and not self.chunked:
            self.done = True
        return bytes(data)

    def _next_chunk(self) -> bool:
        if self._chunk_open and self._rfile.readline(3) not in (b"\r\n", b"\n"):
            raise _framing_error("Malformed chunked body (missing CRLF after a chunk).")
        line = self._rfile.readline(1024)
        if not line.endswith(b"\n"):
            raise _framing_error("Malformed or truncated chunked body.")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise _framing_error("Malformed chunk size in chunked body.") from exc
        if size == 0:
            while self._rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                pass  # trailers carry nothing we use
            self.done = True
            return False
        self._left = size
        self._chunk_open = True
        return True

    def read_all(self, limit: int) -> bytes:
        """The whole body, or a 413 as soon as it is known to exceed limit."""
        if self.expected_length is not None and self.expected_length > limit:
            raise ApiError(413, "payload_too_large", f"The body exceeds {limit} bytes.")
        parts = []
        total = 0
        while True:
            part = self.read_some(64 * 1024)
            if not part:
                return b"".join(parts)
            total += len(part)
            if total > limit:
                raise ApiError(413, "payload_too_large", f"The body exceeds {limit} bytes.")
            parts.append(part)

    def drain(self, limit: int) -> bool:
        """Discard the rest of the body so the connection can serve another request."""
        if self.expected_length is not None and self.expected_length - self.bytes_read > limit:
            return False
        discarded = 0
        while discarded <= limit:
            part = self.read_some(64 * 1024)
            if not part:
                return True
            discarded += len(part)
        return False


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: BodyReader
    request_id: str
    token: str = ""
    account_id: int = 0

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json_body(self, *, optional: bool = False, limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
        media = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if optional and not media and self.body.done:
            return {}
        if media != "application/json" and not media.endswith("+json"):
            raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
        raw = self.body.read_all(limit)
        if optional and not raw.strip():
            return {}
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(f"The body is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise ApiError(422, "unprocessable", "The body must be a JSON object.")
        return doc


@dataclass
class Response:
    status: int
    body: bytes | Iterable[bytes] = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None  # required when body is an iterable


def json_response(status: int, doc: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(doc).encode(), "application/json", headers or {})
