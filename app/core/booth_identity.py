"""The booth's name as the cloud sees it: the contract's X-Booth-Id on every request.

The operator's name for the booth (Settings) wins; the computer's name stands in until one is
set, so two booths of one account are never both anonymous. Header values must be ASCII and
the contract allows 1-64 characters: anything else is percent-encoded (UTF-8), then cut.
"""

from __future__ import annotations

from urllib.parse import quote

MAX_LENGTH = 64


def booth_id(name: str, computer_name: str) -> str:
    chosen = " ".join((name or "").split()) or " ".join((computer_name or "").split())
    encoded = quote(chosen or "booth", safe=" !#$&'()*+,-./:;<=>?@[]^_`{|}~")
    cut = encoded[:MAX_LENGTH]
    # Never cut through a %XX escape.
    tail = cut.rfind("%")
    if tail != -1 and tail > len(cut) - 3:
        cut = cut[:tail]
    return cut
