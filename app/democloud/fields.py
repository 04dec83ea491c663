"""Typed reads of JSON request fields; a wrong type or range is a 422 naming the field."""

from __future__ import annotations

from typing import Any

from app.democloud.clock import fmt_ts, parse_ts
from app.democloud.problems import unprocessable

_MISSING = object()


def integer(
    body: dict[str, Any],
    name: str,
    *,
    default: Any = _MISSING,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    value = body.get(name, default)
    if value is _MISSING:
        raise unprocessable(f"'{name}' is required.")
    if not isinstance(value, int) or isinstance(value, bool):
        raise unprocessable(f"'{name}' must be an integer.")
    if minimum is not None and value < minimum:
        raise unprocessable(f"'{name}' must be at least {minimum}.")
    if maximum is not None and value > maximum:
        raise unprocessable(f"'{name}' must be at most {maximum}.")
    return value


def text(
    body: dict[str, Any],
    name: str,
    *,
    default: Any = _MISSING,
    max_length: int = 200,
    nullable: bool = False,
) -> Any:
    value = body.get(name, default)
    if value is _MISSING:
        raise unprocessable(f"'{name}' is required.")
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value.strip():
        raise unprocessable(f"'{name}' must be a non-empty string.")
    if len(value) > max_length:
        raise unprocessable(f"'{name}' must be at most {max_length} characters.")
    return value


def timestamp(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise unprocessable(f"'{name}' is required.")
        return None
    if not isinstance(value, str):
        raise unprocessable(f"'{name}' must be an RFC 3339 timestamp.")
    try:
        return fmt_ts(parse_ts(value))
    except ValueError as exc:
        raise unprocessable(f"'{name}' must be an RFC 3339 timestamp.") from exc


def number(
    body: dict[str, Any], name: str, *, default: float, minimum: float, maximum: float
) -> float:
    value = body.get(name, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise unprocessable(f"'{name}' must be a number.")
    if not minimum <= value <= maximum:
        raise unprocessable(f"'{name}' must be between {minimum} and {maximum}.")
    return float(value)
