"""Home Assistant discovery: off by default; when on, each booth's sensors as retained configs
that point at the state topic the fleet already sends (and are cleared when it retires)."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from app.adapters.system.settings_file import Settings
from app.core.fleet import Topics
from app.core.fleet_discovery import SENSORS, config_topics, discovery_messages, ha_id
from tests.fleet.booths import SimBooth
from tests.fleet.broker import Broker, wait_for

T = Topics("ops_at_studio.example", "Front_desk")


def test_discovery_is_off_by_default():
    assert Settings().mqtt_home_assistant is False


def test_each_sensor_points_at_the_booths_own_topics():
    messages = discovery_messages(T, "Front desk")
    assert [t for t, _ in messages] == config_topics(T)
    assert messages[0][0] == "homeassistant/sensor/ops_at_studio_example/Front_desk_balance/config"
    docs = [json.loads(p) for _, p in messages]
    assert {d["state_topic"] for d in docs} == {T.state}
    assert {d["availability_topic"] for d in docs} == {T.status}
    assert len({d["unique_id"] for d in docs}) == len(SENSORS)
    assert docs[0]["device"]["name"] == "Booth Front desk"
    assert all("value_json." in d["value_template"] for d in docs)


def test_ids_are_what_home_assistant_accepts():
    assert ha_id("ops_at_studio.example") == "ops_at_studio_example"
    assert ha_id("") == "unnamed"


class HomeAssistant:
    """What Home Assistant does: subscribe to homeassistant/# and keep the retained configs."""

    def __init__(self, port: int):
        self.configs: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="home-assistant")
        self.client.on_message = self._message
        self.client.on_connect = lambda c, *_: c.subscribe("homeassistant/#", 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, _c, _u, msg) -> None:
        with self.lock:
            if msg.payload:
                self.configs[msg.topic] = bytes(msg.payload)
            else:
                self.configs.pop(msg.topic, None)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_booth_with_discovery_on_publishes_its_sensors_and_clears_them(tmp_path: Path,
                                                                          broker: Broker):
    ha = HomeAssistant(broker.port)
    booth = SimBooth(tmp_path, broker.port, T.account, T.booth)
    plain = SimBooth(tmp_path, broker.port, T.account, "no-discovery")
    booth.path.config = replace(booth.path.config, home_assistant=True, booth_name="Front desk")
    try:
        booth.path.start()
        plain.path.start()
        wait_for(lambda: set(ha.configs) == set(config_topics(T)), 20, "six configs")
        assert json.loads(ha.configs[config_topics(T)[0]])["device"]["name"] == \
            "Booth Front desk"
        wait_for(lambda: plain.waiting() == 0, 10, "the other booth published")
        assert not any("no-discovery" in t for t in ha.configs)
        booth.path.retire()
        wait_for(lambda: ha.configs == {}, 20, "the configs removed on retiring")
    finally:
        plain.close()
        booth.db.close()
        ha.close()
