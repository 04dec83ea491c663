"""Which of a photo's own transfers can stand for the link, and what they read."""

from __future__ import annotations

from datetime import datetime, timezone

from app.core.bandwidth_passive import PassiveReading, Unused, read_transfer
from tests.bandwidth.samples import synthetic

T0 = datetime(2026, 5, 1, 18, 0, tzinfo=timezone.utc)


def read(samples, idle=None):  # type: ignore[no-untyped-def]
    return read_transfer("up", samples, idle or [False] * len(samples), rtt_seconds=0.02,
                         measured_at=T0, method="tcp_info_acked")


def test_a_multi_megabyte_upload_reads_the_link_rate():
    reading = read(synthetic(6.0, until=3.0))
    assert isinstance(reading, PassiveReading)
    assert abs(reading.mbps - 6.0) < 0.3


def test_a_short_transfer_is_not_used():
    # 0.5 s at 10 Mbit/s: slow start and a few tenths of a second, no rate worth trusting.
    assert read(synthetic(10.0, until=0.5)) == Unused("up", "too_short")


def test_a_small_transfer_is_not_used_even_if_long():
    assert read(synthetic(0.3, until=3.0)) == Unused("up", "too_short")


def test_an_app_limited_transfer_is_not_used():
    samples = synthetic(6.0, until=3.0)
    idle = [1.0 <= s.t < 2.0 for s in samples]  # the sender had nothing to send for a second
    assert read(samples, idle) == Unused("up", "app_limited")


def test_nothing_delivered_is_no_reading():
    assert read([]) == Unused("up", "no_data")
