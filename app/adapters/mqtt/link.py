"""One connection to the broker, kept up by its own thread.

paho-mqtt (the Eclipse project's client: MQTT 3.1.1 and 5, TLS, last will, thread-safe
publish) does the protocol. Its own reconnect loop doubles a delay without jitter, so a venue's
fifty booths whose Wi-Fi comes back at once would all knock on the broker in the same second:
this thread runs paho's network loop itself and waits between attempts with the app's full
jitter backoff (app.core.backoff) instead.

The thread blocks in paho's select() (woken at once by a publish from another thread, and at
least every LOOP_SECONDS to look at the stop flag and keepalive), never in a busy loop.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from app.core.backoff import Backoff
from app.core.errors import NotConfigured

log = logging.getLogger(__name__)

LOOP_SECONDS = 1.0
CONNECT_TIMEOUT = 5.0
# After a venue's Wi-Fi returns: the first retry within 1-5 s, then doubling to two minutes,
# each drawn anywhere in its window (docs/fleet.md works out the spread for 5,000 booths).
BROKER_BACKOFF = Backoff(base=5.0, cap=120.0, floor=1.0)


@dataclass(frozen=True)
class BrokerConfig:
    host: str
    port: int = 1883
    tls: bool = False
    ca_file: str = ""  # extra CA to trust ("" = the system's); the name is always verified
    username: str = ""
    password: str | None = None
    client_id: str = ""
    keepalive: int = 60
    clean_session: bool = True

    def describe(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class LinkState:
    connected: bool = False
    failures: int = 0
    last_error: str | None = None
    next_attempt_in: float | None = None


class MqttLink:
    """Callbacks run on the link's thread; keep them short (they hold paho's locks)."""

    def __init__(self, config: BrokerConfig, *,
                 on_connect: Callable[[], None] = lambda: None,
                 on_disconnect: Callable[[str], None] = lambda _why: None,
                 on_message: Callable[[str, bytes, bool], None] = lambda _t, _p, _r: None,
                 on_ack: Callable[[int], None] = lambda _mid: None,
                 will: tuple[str, bytes] | None = None,
                 backoff: Backoff = BROKER_BACKOFF, rng: random.Random | None = None):
        self.config = config
        self._on_connect, self._on_disconnect = on_connect, on_disconnect
        self._on_message, self._on_ack = on_message, on_ack
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._state = LinkState()
        self.connects = 0  # successful CONNACKs, for the tests and the diagnostics
        self._client = self._make_client(will)

    def _make_client(self, will: tuple[str, bytes] | None) -> mqtt.Client:
        c = self.config
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=c.client_id,
                             clean_session=c.clean_session, protocol=mqtt.MQTTv311)
        client.connect_timeout = CONNECT_TIMEOUT
        # Only what is in flight when the link drops stays in paho's memory (it re-sends it,
        # same message id); everything else waits in the durable outbox, not here.
        client.max_queued_messages_set(1000)
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        if c.username:
            client.username_pw_set(c.username, c.password)
        if c.tls:
            # The system's CAs, plus the operator's own CA file when one is set (a broker
            # with a certificate from a private CA); the chain and the host name are verified.
            context = ssl.create_default_context()
            if c.ca_file:
                try:
                    context.load_verify_locations(cafile=c.ca_file)
                except (OSError, ssl.SSLError) as exc:
                    raise NotConfigured(
                        f"The broker's CA file {c.ca_file} cannot be used ({exc}).",
                        hint="Check the CA file in Settings (Fleet): a PEM file.") from None
            client.tls_set_context(context)
        # Only the link's thread touches the socket. Without a write hook paho writes a
        # publish from the caller's thread straight to the socket, racing the network loop
        # (packets reordered, a TLS socket used by two threads at once); with one it queues
        # the packet and wakes the loop's select(), which sends it in order.
        client.on_socket_register_write = lambda _c, _u, _sock: None
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        client.on_publish = self._published
        return client

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fleet-mqtt", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """A clean disconnect: the broker does not send the last will (we say offline first).
        The DISCONNECT is queued behind whatever was published before it, and the link's
        thread sends them all, in order, before it ends."""
        self._stopping = True
        try:
            self._client.disconnect()
        except Exception:  # stopping must not fail on a dead socket
            log.debug("disconnect failed", exc_info=True)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._state.connected

    # -- what the owner sends ------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, retain: bool, qos: int = 1) -> int | None:
        """The message id to expect in on_ack, or None when not connected (nothing queued)."""
        if not self._state.connected:
            return None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_QUEUE_SIZE):
            return None
        return info.mid if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS else None

    def publish_all(self, messages: list[tuple[str, bytes]], *, retain: bool,
                    timeout: float = 3.0) -> bool:
        """Publish and wait for every PUBACK (for the last words before a disconnect: the
        broker must have them before the DISCONNECT). False if not all were acknowledged."""
        if not self._state.connected:
            return False
        infos = [self._client.publish(t, p, qos=1, retain=retain) for t, p in messages]
        deadline = time.monotonic() + timeout
        for info in infos:
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                return False
        return all(info.is_published() for info in infos)

    def subscribe(self, topics: list[str]) -> None:
        if topics:
            self._client.subscribe([(t, 1) for t in topics])

    def unsubscribe(self, topics: list[str]) -> None:
        if topics:
            self._client.unsubscribe(topics)

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                if first:  # sets the host and port that reconnect() uses from then on
                    first = False
                    self._client.connect(self.config.host, self.config.port,
                                         self.config.keepalive)
                else:
                    self._client.reconnect()
            except (OSError, ssl.SSLError, ValueError) as exc:
                self._wait_after(_reason(exc))
                continue
            rc = MQTTErrorCode.MQTT_ERR_SUCCESS
            while not self._stop.is_set() and rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                rc = self._client.loop(LOOP_SECONDS)
            if self._stopping:
                break
            self._lost(f"connection lost ({mqtt.error_string(rc)})")
            self._wait_after(self._state.last_error or "connection lost")
        # What stop() queued (the last publishes, then DISCONNECT) goes out from here.
        for _ in range(10):
            if not self._client.want_write():
                break
            self._client.loop(0.1)

    def _wait_after(self, why: str) -> None:
        failures = self._state.failures + 1
        delay = self._backoff.delay(failures, self._rng)
        self._state = LinkState(False, failures, why, delay)
        log.info("fleet broker %s: %s; next try in %.1f s", self.config.describe(), why, delay)
        self._stop.wait(delay)

    def _lost(self, why: str) -> None:
        was = self._state.connected
        self._state = LinkState(False, self._state.failures, self._state.last_error or why)
        if was:
            self._on_disconnect(why)

    # -- paho callbacks (the link's thread) ------------------------------------------------------

    def _connected(self, _c: Any, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            # Refused (bad user or password, not authorised): the broker closes the socket,
            # the loop sees it and backs off like any failure.
            self._state = LinkState(False, self._state.failures, f"refused: {reason}")
            log.warning("fleet broker refused the connection: %s", reason)
            return
        self.connects += 1
        self._state = LinkState(True, 0, None)
        log.info("fleet broker %s connected", self.config.describe())
        self._on_connect()

    def _disconnected(self, _c: Any, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        error = self._state.last_error if not self._state.connected else None
        self._lost(error or f"disconnected ({reason})")

    def _message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._on_message(msg.topic, bytes(msg.payload), bool(msg.retain))
        except Exception:  # one bad message must not end the link
            log.exception("fleet message on %s not taken", msg.topic)

    def _published(self, _c: Any, _u: Any, mid: int, _reason: Any, _p: Any) -> None:
        try:
            self._on_ack(mid)
        except Exception:
            log.exception("fleet acknowledgement %s not recorded", mid)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted ({exc.verify_message})"
    if isinstance(exc, ConnectionRefusedError):
        return "refused (no broker listening)"
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    return f"{type(exc).__name__}: {exc}"
