"""The forecast's "runs out before the event ends" reads the operator's event_ends_at setting
(local HH:MM, the next such moment; 23:30 by default, and for a hand-edited value that is not
a time)."""

from __future__ import annotations

from datetime import timedelta

from app.runtime import utc_now
from tests.conftest import wait_until
from tests.guard.conftest import scenario


def test_the_forecast_warns_only_when_the_balance_runs_out_before_the_set_end(cloud, booths):
    booth = booths(cloud.url)
    booth.sync()
    scenario(cloud, "busy-night", photos=6, every_seconds=0.05, feature="draw_me")

    def spent() -> bool:
        booth.sync()
        found = booth.runtime.forecast(booth.runtime.view(), utc_now())
        return bool(found and found.runs_out_at and found.cents_per_hour > 0)
    wait_until(spent, timeout=10)
    runtime, now = booth.runtime, utc_now()
    out = runtime.forecast(runtime.view(), now)
    assert out is not None and out.runs_out_at is not None
    checked = 0
    for end, warns in ((out.runs_out_at + timedelta(minutes=30), True),
                       (out.runs_out_at - timedelta(minutes=30), False)):
        if end - now >= timedelta(hours=24) or end <= now:
            continue  # HH:MM names the next 24 hours only
        runtime.settings.event_ends_at = end.astimezone().strftime("%H:%M")
        assert runtime.forecast(runtime.view(), now).before_end is warns, end
        checked += 1
    assert checked, out  # at least one side of the edge is within the next 24 hours
    runtime.settings.event_ends_at = "late"  # hand-edited nonsense: the default, no crash
    assert runtime.forecast(runtime.view(), now) is not None
