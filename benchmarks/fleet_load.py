"""The fleet's figures for docs/fleet.md: real encoded message sizes, what a real Mosquitto
carries for 50 booths of one account (its own byte counters), and how the jittered backoff
spreads the reconnects of 5,000 booths whose venue Wi-Fi returns at once.

    python -m benchmarks fleet_load [--quick]
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from app.adapters.mqtt.link import BROKER_BACKOFF
from app.core.backoff import Backoff
from app.core.fleet import BoothEvent, BoothState, Topics, encode_event, encode_state
from app.runtime import utc_now

ACCOUNT = "ops_at_studio.example"


def publish_bytes(topic: str, payload: bytes) -> int:
    """One QoS 1 PUBLISH on the wire: fixed header, remaining length, topic, packet id."""
    remaining = 2 + len(topic.encode()) + 2 + len(payload)
    length_bytes = 1 if remaining < 128 else 2 if remaining < 16_384 else 3
    return 1 + length_bytes + remaining


def sizes() -> dict[str, tuple[int, int]]:
    """name -> (payload bytes, PUBLISH bytes)."""
    now = utc_now()
    t = Topics(ACCOUNT, "Front_desk")
    typical = BoothState(booth="Front_desk", name="Front desk", seq=1234, origin="3f9a1c0b7d2e",
                         sent_at=now, balance_cents=18_450, balance_as_of=now, link="ok",
                         queued=3, held=0, open_claims=1, cents_per_hour=2340.5,
                         photos_left=123)
    longest = BoothState(booth="B" * 64, name="Ballroom north entrance, left of the stage, "
                         "Hall 3 (rented)", seq=9_999_999, origin="3f9a1c0b7d2e",
                         sent_at=now, balance_cents=-1_234_567_89, balance_as_of=now,
                         link="offline", queued=9999, held=9999, open_claims=999,
                         cents_per_hour=123456.7, photos_left=99999)
    event = BoothEvent("Front_desk", "photo_held", "Slow link: photos held: 3 photos held until "
                       "the link recovers. 'Send anyway' in the AI jobs tab sends them now.",
                       1235, "3f9a1c0b7d2e", now)
    long_topics = Topics("a" * 64, "B" * 64)
    out = {}
    for name, topic, payload in (
            ("state (typical)", t.state, encode_state(typical)),
            ("state (longest names, every field)", long_topics.state, encode_state(longest)),
            ("event (photo held)", t.events, encode_event(event)),
            ("status online/offline", t.status, b"offline"),
            ("phone on/off", t.phone, b"off")):
        out[name] = (len(payload), publish_bytes(topic, payload))
    return out


# -- a real broker --------------------------------------------------------------------------


def broker_run(booths: int, changes: int, events: int, watchers: int) -> dict[str, float]:
    """`booths` simulated booths (own stores, the real FleetPath), each changing its state
    `changes` times and telling `events` events; the broker's own counters say what it moved."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from tests.fleet.booths import SimBooth
    from tests.fleet.broker import Broker, wait_for

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = Broker(folder / "broker")
        broker.conf.write_text(broker.conf.read_text() + "sys_interval 1\n")
        broker.start()
        counters: dict[str, float] = {}
        spy = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sys")
        spy.on_message = lambda _c, _u, m: counters.__setitem__(
            m.topic.removeprefix("$SYS/broker/"), float(m.payload))
        spy.connect("127.0.0.1", broker.port)
        spy.subscribe([("$SYS/broker/bytes/+", 0), ("$SYS/broker/publish/messages/+", 0),
                       ("$SYS/broker/retained messages/count", 0)])
        spy.loop_start()
        sims = [SimBooth(folder, broker.port, ACCOUNT, f"booth-{n:02d}", seed=n,
                         watch=n < watchers) for n in range(booths)]
        try:
            for s in sims:
                s.path.start()
            wait_for(lambda: all(s.waiting() == 0 for s in sims), 120, "all connected")
            time.sleep(1.5)
            base = dict(counters)
            for round_ in range(changes):
                seqs = [s.latest_state_seq() for s in sims]
                for n, s in enumerate(sims):
                    s.change(queued=round_ + n + 1, held=round_ % 2)
                    if round_ < events:
                        s.path.event("photo_held", f"photo {round_} of booth {n} held: slow")
                wait_for(lambda seqs=seqs: all(
                    s.latest_state_seq() > seq and s.waiting() == 0
                    for s, seq in zip(sims, seqs, strict=True)), 120,
                    "each booth's new state published")
            time.sleep(2.5)  # the broker's counters are published once a second
            done = dict(counters)
        finally:
            for s in sims:
                s.close()
            spy.loop_stop()
            broker.stop()
    return {k: done.get(k, 0) - base.get(k, 0) for k in done} | {
        "retained": done.get("retained messages/count", 0)}


# -- reconnect storms -------------------------------------------------------------------------


def reconnects(booths: int, outage: float, backoff: Backoff | None, seed: int = 1,
               drop_spread: float = 5.0) -> list[float]:
    """When each booth connects again after the venue link returns at `outage` seconds: each
    found it gone within `drop_spread` s (keepalive, a publish), then retried. With backoff
    None, paho's own doubling delay (1 s .. 120 s, no jitter) is used."""
    rng = random.Random(seed)
    out = []
    for _ in range(booths):
        t = rng.uniform(0, drop_spread)
        failures = 0
        while True:
            failures += 1
            delay = (min(120.0, 2.0 ** (failures - 1)) if backoff is None
                     else backoff.delay(failures, rng))
            t += delay
            if t >= outage:
                out.append(t - outage)
                break
    return out


def storm_table(booths: int) -> list[tuple[str, float, int, float]]:
    rows = []
    for outage in (60.0, 600.0, 1800.0):
        for name, backoff in (("jittered (ours)", BROKER_BACKOFF), ("paho's own, no jitter",
                                                                    None)):
            times = reconnects(booths, outage, backoff)
            per_second = Counter(int(t) for t in times)
            rows.append((f"{outage / 60:.0f} min outage, {name}", statistics.median(times),
                         max(per_second.values()), max(times)))
    return rows


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    print(f"{'message':<38} {'payload B':>9} {'PUBLISH B':>9}")
    for name, (payload, wire) in sizes().items():
        print(f"{name:<38} {payload:>9} {wire:>9}")
    print("PUBACK: 4 B back for each QoS 1 PUBLISH")

    print("\nreconnects of 5,000 booths after the venue link returns")
    print(f"{'case':<42} {'median s':>8} {'peak/s':>7} {'last s':>7}")
    for case, median, peak, last in storm_table(5_000):
        print(f"{case:<42} {median:>8.1f} {peak:>7} {last:>7.1f}")

    booths, changes, events = (10, 3, 1) if quick else (50, 10, 4)
    for watchers in (booths, 1):
        print(f"\nreal Mosquitto: {booths} booths, {changes} state changes and {events} events "
              f"each, {watchers} watching the Fleet tab")
        moved = broker_run(booths, changes, events, watchers)
        # (Mosquitto 2.0's publish/messages/received does not count every QoS 1 PUBLISH; the
        # booths' own count is exact.)
        print(f"{'PUBLISHes by the booths':<26} {booths * (changes + events):>12,}")
        for key in ("publish/messages/sent", "bytes/received", "bytes/sent", "retained"):
            print(f"{key:<26} {moved.get(key, 0):>12,.0f}")
        sent = booths * (changes + events)
        print(f"bytes in per booth message (PUBLISH, PUBACK, keepalive): "
              f"{moved.get('bytes/received', 0) / max(1, sent):,.0f}; "
              f"out per booth message: {moved.get('bytes/sent', 0) / max(1, sent):,.0f}")
    return 0
