"""One phone copy per account: which kinds are account-wide, which booth sends them given what
it sees of the fleet, and when an alert left to another booth is taken over."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.core.alert_sender import (
    HANDOVER,
    PRESENCE_STALE,
    TAKEOVER_AFTER,
    Peer,
    Presence,
    choose,
    handover,
    is_account_wide,
    phone_sender,
)

NOW = datetime(2026, 12, 4, 20, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)


@pytest.mark.parametrize(("key", "wide"), [
    ("low-balance:2000", True),
    ("runs-out:2026-12-04", True),
    ("grace:2026-12-10", True),
    ("renewal-upcoming:2026-12-10", True),
    ("renewal-entry:e1", True),
    ("account-closed", True),
    ("trap:lost_purchase:p1", True),
    ("trap:plan_ending:3:2026-12-10", True),
    ("support-filed:r1", True),
    ("support-resolved:r1", True),
    ("support-rejected:r1", True),
    # this booth's own
    ("offline:2026-12-04T19:00:00Z", False),
    ("online:2026-12-04T19:00:00Z", False),
    ("held", False),
    ("stuck", False),
    ("paused:auth", False),
    ("untrusted:clock", False),
    ("refund-filed:cloud:c1", False),
    ("refund-refunded:c1", False),
    ("", False),
])
def test_which_kinds_concern_the_account(key: str, wide: bool) -> None:
    assert is_account_wide(key) is wide


def seen(me: str = "Booth_B", *peers: Peer, connected: bool = True,
         written: datetime = NOW) -> Presence:
    return Presence(me, connected, written, tuple(peers))


def on(booth: str) -> Peer:
    return Peer(booth, True, NOW - 30 * MIN)


def off(booth: str, ago: timedelta | None) -> Peer:
    return Peer(booth, False, None if ago is None else NOW - ago)


@pytest.mark.parametrize(("presence", "sender"), [
    (None, None),  # no broker: every booth sends its own
    (seen("Booth_B", on("Booth_A"), on("Booth_B"), connected=False), None),  # cannot see it
    (seen("Booth_B", on("Booth_A"), written=NOW - PRESENCE_STALE - MIN), None),  # stale
    (seen("Booth_B", on("Booth_A"), on("Booth_B")), "Booth_A"),
    (seen("Booth_A", on("Booth_A"), on("Booth_B")), "Booth_A"),
    (seen("Booth_B", on("Booth_B"), on("Booth_C")), "Booth_B"),
    (seen("Booth_B"), "Booth_B"),  # our own status not heard yet: we still count
    # a booth without a phone alert address, or one that does not say (an older version)
    (seen("Booth_B", Peer("Booth_A", True, NOW, False), on("Booth_B")), "Booth_B"),
    (seen("Booth_B", Peer("Booth_A", True, NOW, None), on("Booth_B")), "Booth_B"),
    (seen("Booth_B", off("Booth_A", MIN), on("Booth_B")), "Booth_A"),  # may be back at once
    (seen("Booth_B", off("Booth_A", TAKEOVER_AFTER), on("Booth_B")), "Booth_B"),
    (seen("Booth_B", off("Booth_A", None), on("Booth_B")), "Booth_B"),  # offline before we looked
    (seen("Booth_C", off("Booth_A", 10 * MIN), on("Booth_B"), on("Booth_C")), "Booth_B"),
])
def test_who_sends_the_accounts_alerts(presence: Presence | None, sender: str | None) -> None:
    assert phone_sender(presence, NOW) == sender


def test_a_booth_specific_alert_is_always_sent_by_its_booth() -> None:
    presence = seen("Booth_B", on("Booth_A"), on("Booth_B"))
    assert choose("held", presence, NOW).send
    left = choose("low-balance:2000", presence, NOW)
    assert (left.send, left.left_to) == (False, "Booth_A")
    mine = choose("low-balance:2000", seen("Booth_A", on("Booth_A"), on("Booth_B")), NOW)
    assert mine.send and "Booth_A" in mine.note and "2 booths" in mine.note
    assert choose("low-balance:2000", seen("Booth_A", on("Booth_A")), NOW).note == ""
    alone = choose("low-balance:2000", None, NOW)
    assert alone.send and alone.note == ""  # today's behaviour, today's words


RAISED = NOW - MIN


@pytest.mark.parametrize(("presence", "now", "verdict", "to"), [
    # the sender is online: wait until it had HANDOVER to send it, then it is settled
    (seen("Booth_B", on("Booth_A"), on("Booth_B")), NOW, "wait", ""),
    (seen("Booth_B", on("Booth_A"), on("Booth_B")), RAISED + HANDOVER, "done", ""),
    # it went offline just after the alert: wait TAKEOVER_AFTER, then take it over
    (seen("Booth_B", off("Booth_A", timedelta(0)), on("Booth_B")), NOW, "wait", ""),
    (seen("Booth_B", off("Booth_A", timedelta(0)), on("Booth_B")), NOW + TAKEOVER_AFTER,
     "send", ""),
    # ... unless a third booth is the sender now: left to it
    (seen("Booth_C", off("Booth_A", timedelta(0)), on("Booth_B"), on("Booth_C")),
     NOW + TAKEOVER_AFTER, "left", "Booth_B"),
    # it went offline long after the alert was raised: it had it
    (seen("Booth_B", Peer("Booth_A", False, RAISED + HANDOVER), on("Booth_B")),
     RAISED + HANDOVER + TAKEOVER_AFTER, "done", ""),
    # offline since before we looked, gone from the fleet, or we cannot see it: ours
    (seen("Booth_B", off("Booth_A", None), on("Booth_B")), NOW, "send", ""),
    (seen("Booth_B", on("Booth_B")), NOW, "send", ""),
    # its phone alert address was removed (it says "off" now): it will never send it
    (seen("Booth_B", Peer("Booth_A", True, NOW, False), on("Booth_B")), NOW, "send", ""),
    (None, NOW, "send", ""),
    (seen("Booth_B", on("Booth_A"), connected=False), NOW, "send", ""),
])
def test_an_alert_left_to_another_booth(presence: Presence | None, now: datetime, verdict: str,
                                        to: str) -> None:
    fate = handover("Booth_A", RAISED, presence, now)
    assert (fate.verdict, fate.left_to) == (verdict, to)
    if verdict == "send":
        assert "Booth_A" in fate.note  # the phone's copy says whose it was and why
