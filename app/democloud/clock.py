"""Timestamps and identifiers in the one wire format the contract allows."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta, timezone

UTC = timezone.utc

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def fmt_ts(moment: datetime) -> str:
    """Millisecond precision, always "Z": fixed width, so stored text sorts chronologically."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_ts() -> str:
    return fmt_ts(utcnow())


def parse_ts(text: str) -> datetime:
    """Parse RFC 3339 strictly (an offset is required). Raises ValueError otherwise.

    Hand-rolled because datetime.fromisoformat accepts non-RFC forms and, before 3.11, rejects "Z".
    """
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = match.group(7)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    zone = match.group(8)
    if zone in ("Z", "z"):
        tz = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz).astimezone(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"
