"""Parsing what an independent server may legally send (docs/cloud-api.md)."""

from datetime import datetime, timezone

import pytest

from app.adapters.cloud.wire import entry_from_json, ledger_page_from_json, parse_time
from app.core.errors import ProtocolError
from app.core.model import EntryKind


@pytest.mark.parametrize("text, expected", [
    ("2026-11-24T10:00:00Z", datetime(2026, 11, 24, 10, tzinfo=timezone.utc)),
    ("2026-11-24T10:00:00.5Z", datetime(2026, 11, 24, 10, 0, 0, 500000, tzinfo=timezone.utc)),
    ("2026-11-24T10:00:00.123456789Z",
     datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=timezone.utc)),
    ("2026-11-24T12:00:00+02:00", datetime(2026, 11, 24, 10, tzinfo=timezone.utc)),
    ("2026-11-24t10:00:00z", datetime(2026, 11, 24, 10, tzinfo=timezone.utc)),
])
def test_rfc3339_variants(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("bad", ["2026-11-24T10:00:00", "yesterday", 12])
def test_unusable_timestamps_are_protocol_errors(bad):
    with pytest.raises(ProtocolError):
        parse_time(bad)


def test_unknown_entry_kind_is_kept_not_fatal():
    entry = entry_from_json({"id": "x", "timestamp": "2026-11-24T10:00:00Z", "kind": "cashback",
                             "amount_cents": 100, "balance_after_cents": 900})
    assert entry.kind is EntryKind.ADJUSTMENT and entry.amount_cents == 100


def test_amount_must_be_whole_cents():
    with pytest.raises(ProtocolError, match="amount_cents"):
        entry_from_json({"id": "x", "timestamp": "2026-11-24T10:00:00Z", "kind": "sms",
                         "amount_cents": -0.05, "balance_after_cents": 900})


def test_page_without_has_more_means_done():
    page = ledger_page_from_json({"entries": [], "next_cursor": "c1"})
    assert page.has_more is False and page.next_cursor == "c1"
