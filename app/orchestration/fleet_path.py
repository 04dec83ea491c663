"""The fleet path: this booth's state out through its durable outbox, every booth's in.

Two threads, both blocking when idle: the link's (paho's network loop, in app.adapters.mqtt)
and the pump, which sleeps on an event until someone asks for a new state (a snapshot of the
tray, a job notice), an event is to be told, the link came up, or the heartbeat is due. The
pump commits the state to the outbox first, then publishes what is unpublished; the broker's
PUBACK for that row and seq is what marks it published. Callers on the GUI thread only set the
event: they never wait on the store or the network.

On every connect the booth says "online" (retained) and publishes its state afresh, so the
retained copy is right even after a broker lost its database; the last will says "offline" for
a booth that vanished without a word.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.adapters.mqtt.link import BROKER_BACKOFF, BrokerConfig, LinkState, MqttLink
from app.adapters.store.fleet_outbox_repo import FleetOutbox
from app.core.alert_sender import Peer, Presence
from app.core.backoff import Backoff
from app.core.errors import MonitorError
from app.core.fleet import (
    HEARTBEAT,
    MAX_EVENTS,
    OFFLINE,
    ONLINE,
    BoothEvent,
    BoothState,
    FleetModel,
    FleetView,
    Topics,
    account_segment,
    topic_segment,
)
from app.core.fleet_discovery import config_topics, discovery_messages
from app.orchestration.alert_targets import load_targets
from app.runtime import Runtime, utc_now

log = logging.getLogger(__name__)

# A PUBACK can beat the publisher to the in-flight map (two threads); it is remembered this
# long. Message ids wrap at 65535, so an old unmatched one (the "online" status's) must not
# linger until a later row reuses its id.
EARLY_ACK_SECONDS = 30.0
# At most one state this often: a busy booth's queue moves with every photo, and each state
# goes to every booth of the account; the newest one within the gap is the one sent.
STATE_MIN_SECONDS = 5.0


@dataclass(frozen=True)
class FleetConfig:
    broker: BrokerConfig
    topics: Topics
    home_assistant: bool = False  # publish Home Assistant discovery configs (retained)
    booth_name: str = ""
    phone_alerts: bool = False  # this booth has a phone alert address (its "phone" topic)


@dataclass(frozen=True)
class FleetStatus:
    configured: bool
    broker: str = ""
    connected: bool = False
    last_error: str | None = None
    next_attempt_in: float | None = None
    waiting: int = 0  # outbox rows not acknowledged yet

    def text(self) -> str:
        if not self.configured:
            return ("Fleet view off: no MQTT broker is set in Settings (Fleet). With one, "
                    "every booth of the account shows here: its balance, link, queue and "
                    "claims (docs/fleet.md).")
        kept = f"{self.waiting} message{'s' if self.waiting != 1 else ''}"
        if self.connected:
            return f"Connected to {self.broker}" + (f", {kept} waiting." if self.waiting
                                                     else ".")
        why = f" ({self.last_error})" if self.last_error else ""
        tail = f"; {kept} kept to send when it is back" if self.waiting else ""
        return f"Not connected to {self.broker}{why}{tail}."


def mqtt_secret_name(host: str, username: str) -> str:
    return f"mqtt:{username}@{host}"


def fleet_config(runtime: Runtime, *, viewer_only: bool = False) -> FleetConfig | None:
    """None while no broker is set. The account level is Settings' fleet account, else the
    account email (Settings, else the cloud's): booths of one account must agree on it."""
    s = runtime.settings
    host = str(s.mqtt_host).strip()
    if not host:
        return None
    state = runtime.cache.load_cache()
    account = (str(s.mqtt_account).strip() or str(s.account_email).strip()
               or (state.account.email if state.account else "") or "default")
    topics = Topics(account_segment(account), topic_segment(runtime.booth_id))
    username = str(s.mqtt_username).strip()
    password = runtime.secrets.get(mqtt_secret_name(host, username)).value if username else None
    if password:
        from app.adapters.system.logs import register_secret

        register_secret(password)  # never in a log line, whatever paho or we say
    client_id = f"bcm-{topics.account}-{topics.booth}"[:64]
    if viewer_only:  # `fleet` on the command line: never take the tray app's session
        client_id = f"{client_id[:48]}-cli-{random.randrange(16**6):06x}"
    return FleetConfig(BrokerConfig(
        host=host, port=_port(s.mqtt_port), tls=bool(s.mqtt_tls), ca_file=str(s.mqtt_ca_file),
        username=username, password=password, client_id=client_id,
        # The tray keeps its session, so events sent while it was away wait for it.
        clean_session=viewer_only), topics, bool(s.mqtt_home_assistant),
        " ".join(str(s.booth_name).split()) or socket.gethostname(),
        False if viewer_only else _has_phone_alerts(runtime))


def _has_phone_alerts(runtime: Runtime) -> bool:
    """Does this booth send phone alerts? A locked keyring does not say it has no address
    (the alert path queues them all the same): then yes."""
    try:
        return bool(load_targets(runtime))
    except MonitorError:
        return True


def _port(value: object) -> int:
    """A hand-edited settings file may say anything: the MQTT port then."""
    try:
        port = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 1883
    return port if 0 < port < 65536 else 1883


def set_mqtt_password(runtime: Runtime, password: str) -> str:
    from app.adapters.system.logs import register_secret

    register_secret(password)
    s = runtime.settings
    return runtime.secrets.set(mqtt_secret_name(str(s.mqtt_host).strip(),
                                                str(s.mqtt_username).strip()), password)


class RuntimeStateSource:
    """This booth's state as the tray shows it: the status view, the job counts, open claims,
    the account's pace. Reads the shared store only (no network)."""

    def __init__(self, runtime: Runtime):
        from app.adapters.store.jobs_repo import JobsRepo
        from app.adapters.store.refunds_repo import RefundsRepo

        self._runtime = runtime
        self._jobs = JobsRepo(runtime.db)
        self._refunds = RefundsRepo(runtime.db)

    def __call__(self) -> BoothState:
        from app.core.bandwidth import Verdict
        from app.core.conditions import SLOW_LINK_MEMORY
        from app.core.jobs import JobState
        from app.core.refunds import OPEN

        runtime, now = self._runtime, utc_now()
        view = runtime.view()
        counts = self._jobs.counts()
        probe = runtime.probe_history().latest_probe()
        slow = (probe is not None and probe.verdict is Verdict.SLOW
                and now - probe.measured_at <= SLOW_LINK_MEMORY)
        link = ("offline" if view.offline else "slow" if slow
                else "ok" if view.as_of is not None else "unknown")
        forecast = runtime.forecast(view, now)
        name = " ".join(str(runtime.settings.booth_name).split()) or socket.gethostname()
        return BoothState(
            booth=topic_segment(runtime.booth_id), name=name,
            balance_cents=view.balance_cents, balance_as_of=view.as_of, link=link,
            queued=counts.open, held=counts.count(JobState.HELD),
            open_claims=len(self._refunds.claims(OPEN)),
            cents_per_hour=forecast.cents_per_hour if forecast else None,
            photos_left=forecast.photos_left if forecast else None)


class FleetPath:
    def __init__(self, outbox: FleetOutbox | None, config: FleetConfig,
                 state_source: Callable[[], BoothState] | None, *,
                 on_change: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime] = utc_now,
                 backoff: Backoff = BROKER_BACKOFF, rng: random.Random | None = None,
                 heartbeat: timedelta = HEARTBEAT, min_interval: float = STATE_MIN_SECONDS,
                 publish: bool = True, watch: bool = True,
                 max_events: int = MAX_EVENTS):
        self.config = config
        self.topics = config.topics
        self._outbox = outbox
        self._source = state_source
        self._on_change = on_change
        self._clock = clock
        self._heartbeat = heartbeat.total_seconds()
        self._min_interval = min_interval
        # Viewer only (`fleet` on the command line): no outbox, no state, no last will.
        self._publish = publish and outbox is not None and state_source is not None
        self.last_message_at: float | None = None  # time.monotonic() of the newest message
        self._lock = threading.Lock()  # the model, the in-flight map
        self._flush_lock = threading.Lock()  # one flush at a time
        self._model = FleetModel(config.topics, max_events)
        self._inflight: dict[int, tuple[int, int]] = {}  # mid -> (row id, seq)
        self._early: dict[int, float] = {}  # mid -> when: PUBACKs not mapped yet
        self._events: deque[BoothEvent] = deque()
        self._wake = threading.Event()
        self._want_state = self._want_force = False
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None
        self.subscribed = threading.Event()
        # Every booth's state is received only while watched (the Fleet tab is on screen, or
        # `fleet` runs): status and events, small and rare, always.
        self._watching = watch
        # Which booths are online, written to the store for the alert path (one phone copy
        # of an account-wide alert per account): on every status change, connect, disconnect
        # and with every state the pump puts (the heartbeat at least).
        self._presence_dirty = True
        will = (self.topics.status, OFFLINE.encode()) if self._publish else None
        self.link = MqttLink(config.broker, on_connect=self._connected,
                             on_disconnect=self._disconnected,
                             on_message=self._message, on_ack=self._acked, will=will,
                             backoff=backoff, rng=rng)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._publish:
            self._pump = threading.Thread(target=self._run, name="fleet-pump", daemon=True)
            self._pump.start()
        self.link.start()

    def stop(self, *, retire: bool = False) -> None:
        """Say offline ourselves (a clean stop sends no last will), then disconnect. Retiring
        (the booth was renamed or moved to another broker or account) removes its retained
        state and status instead: an empty retained message deletes one."""
        self._stop.set()
        self._wake.set()
        if self._pump is not None:
            self._pump.join(5)
        if self._publish:
            try:  # the alert path must not count on a fleet this booth no longer sees
                self._write_presence(connected=False)
            except Exception:
                log.exception("fleet presence not written")
        if self._publish and self.link.connected:
            last = [(self.topics.status, b"" if retire else OFFLINE.encode())]
            if retire:
                last += [(self.topics.state, b""), (self.topics.phone, b"")]
                if self.config.home_assistant:
                    last += [(topic, b"") for topic in config_topics(self.topics)]
            # Acknowledged before the DISCONNECT: Mosquitto 2.0 was seen dropping a burst of
            # deletions that arrived together with it.
            if not self.link.publish_all(last, retain=True):
                log.info("fleet: the broker did not confirm our last words before stopping")
        self.link.stop()

    def retire(self) -> None:
        self.stop(retire=True)

    # -- what the app tells it (any thread; never blocks on disk or network) ----------------------

    def state_changed(self, *, force: bool = False) -> None:
        self._want_state = True
        self._want_force = self._want_force or force
        self._wake.set()

    def event(self, kind: str, text: str) -> None:
        self._events.append(BoothEvent(self.topics.booth, kind, text, at=self._clock()))
        self._wake.set()

    # -- what it tells the app -----------------------------------------------------------------

    def view(self, now: datetime | None = None, *, event_end: datetime | None = None
             ) -> FleetView:
        with self._lock:
            return self._model.view(now or self._clock(), event_end=event_end)

    def status(self) -> FleetStatus:
        state: LinkState = self.link.state
        counts = self._outbox.counts() if self._outbox is not None else {}
        return FleetStatus(True, self.config.broker.describe(), state.connected,
                           state.last_error, state.next_attempt_in, sum(counts.values()))

    # -- the pump thread -------------------------------------------------------------------------

    def _run(self) -> None:
        self.state_changed()  # the first state, committed even while the broker is away
        last_state = -self._min_interval  # time.monotonic() of the last state put
        last_beat = time.monotonic()  # ... of the last state that got a new seq
        while not self._stop.is_set():
            now = time.monotonic()
            timeout = last_beat + self._heartbeat - now
            if self._want_state:
                timeout = min(timeout, last_state + self._min_interval - now)
            if timeout > 0:
                self._wake.wait(timeout)
            self._wake.clear()  # the flags below say what is wanted, read after this
            if self._stop.is_set():
                break
            now = time.monotonic()
            if now >= last_beat + self._heartbeat:
                self._want_state = self._want_force = True
            put = self._want_state and now >= last_state + self._min_interval
            try:
                if self._pump_once(put_state=put):
                    last_beat = now
            except Exception:  # a full disk or a bug must not end the fleet
                log.exception("fleet state not published")
            if put:
                last_state = now

    def _pump_once(self, *, put_state: bool) -> bool:
        """Commit what is wanted, then publish what waits; True when a new state seq was
        committed (the heartbeat counts from there)."""
        assert self._outbox is not None and self._source is not None
        now = self._clock()
        if self._presence_dirty or put_state:  # first: a state source that fails must not
            self._write_presence()  # leave the alert path with an old picture
        seq = None
        if put_state:
            force, self._want_state, self._want_force = self._want_force, False, False
            seq = self._outbox.put_state(self._source(), now, force=force)
        while self._events:
            self._outbox.put_event(self._events.popleft(), now)
        self._flush()
        return seq is not None

    def presence(self, *, connected: bool | None = None) -> Presence:
        """What this booth sees of its fleet: its own link, and every booth's status word."""
        with self._lock:
            peers = tuple(Peer(b, online, since, phone)
                          for b, online, since, phone in self._model.statuses())
        return Presence(self.topics.booth, self.link.connected if connected is None
                        else connected, self._clock(), peers)

    def _write_presence(self, *, connected: bool | None = None) -> None:
        assert self._outbox is not None
        self._presence_dirty = False
        self._outbox.write_presence(self.presence(connected=connected))

    def _flush(self) -> None:
        assert self._outbox is not None
        with self._flush_lock:
            with self._lock:
                flying = set(self._inflight.values())
            for row in self._outbox.unpublished():
                if (row.id, row.seq) in flying:
                    continue  # paho re-sends it on reconnect, same message id
                topic = self.topics.state if row.kind == "state" else self.topics.events
                mid = self.link.publish(topic, row.payload, retain=row.kind == "state")
                if mid is None:
                    return  # not connected: the rows wait in the outbox
                with self._lock:
                    early = self._early.pop(mid, None) is not None
                    if not early:
                        self._inflight[mid] = (row.id, row.seq)
                if early:
                    self._outbox.published(row.id, row.seq, self._clock())

    # -- link callbacks (the link's thread) ------------------------------------------------------

    def watch(self, on: bool) -> None:
        """Receive every booth's state (on) or stop (off); any thread."""
        if on == self._watching:
            return
        self._watching = on
        if self.link.connected:
            (self.link.subscribe if on else self.link.unsubscribe)([self.topics.states])

    @property
    def watching(self) -> bool:
        return self._watching

    def _connected(self) -> None:
        wanted = [t for t in self.topics.subscriptions
                  if self._watching or t != self.topics.states]
        self.link.subscribe(wanted)
        self.subscribed.set()
        if self._publish:
            self.link.publish(self.topics.status, ONLINE.encode(), retain=True)
            self.link.publish(self.topics.phone, b"on" if self.config.phone_alerts else b"off",
                              retain=True)
            if self.config.home_assistant:
                # Re-sent on every connect (retained, idempotent): a broker that lost its
                # database gets them back.
                for topic, payload in discovery_messages(self.topics, self.config.booth_name
                                                         or self.topics.booth):
                    self.link.publish(topic, payload, retain=True)
            self._presence_dirty = True
            self.state_changed(force=True)
        self._on_change()

    def _disconnected(self, _why: str) -> None:
        if self._publish:
            self._presence_dirty = True
            self._wake.set()
        self._on_change()

    def _message(self, topic: str, payload: bytes, retained: bool) -> None:
        self.last_message_at = time.monotonic()
        with self._lock:
            changed = self._model.receive(topic, payload, self._clock(), retained=retained)
        if changed:
            if self._publish and topic.endswith(("/status", "/phone")):
                self._presence_dirty = True
                self._wake.set()
            self._on_change()

    def _acked(self, mid: int) -> None:
        if self._outbox is None:
            return
        with self._lock:
            row = self._inflight.pop(mid, None)
            if row is None:
                now = time.monotonic()
                self._early = {m: t for m, t in self._early.items()
                               if now - t < EARLY_ACK_SECONDS}
                self._early[mid] = now
                return
        self._outbox.published(row[0], row[1], self._clock())

    # -- for the tests and diagnostics -----------------------------------------------------------

    @property
    def model(self) -> FleetModel:
        return self._model


def runtime_fleet(runtime: Runtime, *, on_change: Callable[[], None] = lambda: None,
                  watch: bool = False) -> FleetPath | None:
    """The tray app's fleet path, or None while no broker is set."""
    config = fleet_config(runtime)
    if config is None:
        return None
    return FleetPath(FleetOutbox(runtime.db), config, RuntimeStateSource(runtime),
                     on_change=on_change, watch=watch)


__all__ = ["FleetConfig", "FleetPath", "FleetStatus", "fleet_config", "runtime_fleet",
           "set_mqtt_password"]
