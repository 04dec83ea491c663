"""The booth's name as the cloud sees it: the contract's X-Booth-Id on every request.

The operator's name for the booth (Settings) wins; the computer's name stands in until one is
set, so two booths of one account are never both anonymous. Header values must be ASCII and
the contract allows 1-64 characters: anything else is percent-encoded (UTF-8), then cut.
"""

from __future__ import annotations

from urllib.parse import quote

MAX_LENGTH = 64
NAME_MAX_LENGTH = 100  # the contract's booth_name in refund and support requests


def booth_name(name: str, computer_name: str) -> str:
    """The same choice in people's words (claims, letters, alerts, the fleet): no encoding."""
    chosen = " ".join((name or "").split()) or " ".join((computer_name or "").split())
    return (chosen or "booth")[:NAME_MAX_LENGTH]


def booth_id(name: str, computer_name: str) -> str:
    encoded = quote(booth_name(name, computer_name), safe=" !#$&'()*+,-./:;<=>?@[]^_`{|}~")
    cut = encoded[:MAX_LENGTH]
    # Never cut through a %XX escape.
    tail = cut.rfind("%")
    if tail != -1 and tail > len(cut) - 3:
        cut = cut[:tail]
    return cut
