"""One phone copy per account: which booth sends the alerts that concern the whole account.

Every booth of an account sees the same shared balance, the same forecast, the same plan and
the same traps, so every booth raises the same alert; an operator who gave fifty booths one
ntfy topic would hear it fifty times. When the fleet view is set up, each booth knows from the
broker which booths of its account are online (the status topics, always received; the last
will says offline), and they all pick the same one: the online booth with the smallest id
(the topic level, so every booth compares the same strings). That booth sends the account-wide
kinds; the others record theirs in their outbox as "left to <booth>".

A booth that went offline moments ago is still the one picked for TAKEOVER_AFTER (it may be
back in a minute: a router restart); once it has been offline longer, the next one sends, and
a booth that had left an alert to it takes it over (late, saying who sent it and why), unless
the booth it was left to stayed online for HANDOVER after the alert was raised (it had its
chance to send: a second copy would be noise). Without a broker, or while this booth cannot
see the fleet (not connected, or its picture of the fleet is stale), every booth sends its own:
a duplicate is better than silence.

Booth-specific alerts (this booth's link, its held photos, its queue, its refund claims) always
come from the booth itself. Pure: the fleet lookup is the orchestration's (alert_path).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# The alert key prefixes that concern the account, not this booth: the shared balance, the
# account's run-out forecast, the plan and grace period, the account guard's traps and its
# requests to support (a lost purchase, a closed account). Keys that start with "trap:"
# include the guard's plan reminders ("trap:plan_ending:…").
ACCOUNT_WIDE_PREFIXES = frozenset({
    "low-balance", "runs-out", "grace", "renewal-upcoming", "renewal-entry", "account-closed",
    "trap", "support-filed", "support-resolved", "support-rejected",
})
# A booth offline for less than this is still the sender (it may be back at once).
TAKEOVER_AFTER = timedelta(minutes=2)
# The sender online this long after an alert was raised had it: a booth that left it to the
# sender no longer takes it over. Longer than the sync interval, since booths raise the same
# alert at their own syncs, up to a minute or two apart.
HANDOVER = timedelta(minutes=5)
# A picture of the fleet older than this is not trusted (the fleet path rewrites it on every
# change and at least every heartbeat, 5 minutes).
PRESENCE_STALE = timedelta(minutes=11)


def is_account_wide(key: str) -> bool:
    return bool(key) and key.split(":", 1)[0] in ACCOUNT_WIDE_PREFIXES


@dataclass(frozen=True)
class Peer:
    booth: str  # the topic level
    online: bool  # the broker's word (status topic)
    since: datetime | None  # when we heard that word; None: it was already so when we looked
    # It has a phone alert address (its retained "phone" topic); None: it did not say (an
    # older version, or not heard yet), so it is not counted on.
    phone: bool | None = True


@dataclass(frozen=True)
class Presence:
    """What this booth sees of its account's fleet, as the fleet path last wrote it."""

    me: str  # this booth's topic level
    connected: bool  # this booth's link to the broker is up and subscribed
    written_at: datetime
    peers: tuple[Peer, ...] = ()

    def peer(self, booth: str) -> Peer | None:
        return next((p for p in self.peers if p.booth == booth), None)

    def sees_fleet(self, now: datetime) -> bool:
        return self.connected and now - self.written_at <= PRESENCE_STALE


def _candidate(peer: Peer, now: datetime) -> bool:
    if not peer.phone:  # a booth without an alert address would send nothing
        return False
    if peer.online:
        return True
    return peer.since is not None and now - peer.since < TAKEOVER_AFTER


def phone_sender(presence: Presence | None, now: datetime) -> str | None:
    """The booth that sends the account-wide alerts now; None: this booth cannot see the fleet
    (no broker, not connected, a stale picture), so it sends its own."""
    if presence is None or not presence.sees_fleet(now):
        return None
    booths = {p.booth for p in presence.peers if _candidate(p, now)} | {presence.me}
    return min(booths)


@dataclass(frozen=True)
class Choice:
    send: bool  # this booth sends it
    left_to: str = ""  # else: the booth it is left to
    note: str = ""  # what the phone's copy says about who sent it


def choose(key: str, presence: Presence | None, now: datetime) -> Choice:
    """For an alert about to be queued: does this booth send it, or leave it to another?"""
    if not is_account_wide(key):
        return Choice(True)
    sender = phone_sender(presence, now)
    if sender is None:
        return Choice(True)
    assert presence is not None
    if sender != presence.me:
        return Choice(False, sender)
    booths = len({p.booth for p in presence.peers} | {presence.me})
    if booths == 1:  # no other booth to speak for
        return Choice(True)
    return Choice(True, note=f"One copy for the account's {booths} booths, sent by "
                  f"{presence.me}.")


@dataclass(frozen=True)
class Handover:
    verdict: str  # 'wait' (ask again later), 'done' (the sender had it), 'send', 'left'
    left_to: str = ""  # 'left': the booth it is now left to
    note: str = ""  # 'send': what the phone's copy says


def handover(left_to: str, created_at: datetime, presence: Presence | None,
             now: datetime) -> Handover:
    """For an alert this booth left to `left_to`: is it settled, still open, or ours now?"""
    if presence is None or not presence.sees_fleet(now):
        return Handover("send", note=f"Sent by this booth: {left_to} was to send it, and this "
                        "booth cannot see the fleet to know that it did.")
    peer = presence.peer(left_to)
    if peer is not None and peer.online and peer.phone:
        return Handover("done" if now - created_at >= HANDOVER else "wait")
    if peer is not None and not peer.online and peer.since is not None:
        if peer.since - created_at >= HANDOVER:
            return Handover("done")  # it was online long enough after the alert
        if now - peer.since < TAKEOVER_AFTER:
            return Handover("wait")
    sender = phone_sender(presence, now)
    if sender is not None and sender != presence.me:
        return Handover("left", left_to=sender)
    gone = ("is gone from the fleet" if peer is None else "went offline" if not peer.online
            else "has no phone alert address now")
    return Handover("send", note=f"Sent by {presence.me}: {left_to}, which was to send it, "
                    f"{gone}.")
