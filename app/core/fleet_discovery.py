"""Home Assistant MQTT discovery for the fleet (off by default).

Operators who already run Home Assistant get each booth as a device with sensors, for free:
retained config messages under `homeassistant/sensor/<account>/<booth>_<sensor>/config` point
at the booth's own state topic (values picked out by templates) and at its status topic for
availability (the last will makes a vanished booth unavailable). Nothing new is published per
state: Home Assistant reads the state messages the fleet already sends.
"""

from __future__ import annotations

import json
import re

from app.core.fleet import OFFLINE, ONLINE, Topics

HA_PREFIX = "homeassistant"
_ID = re.compile(r"[^A-Za-z0-9_-]+")

# key, name, value template, extra config
SENSORS: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    ("balance", "Balance seen", "{{ (value_json.bal | float(0)) / 100 }}",
     {"unit_of_measurement": "$", "icon": "mdi:cash"}),
    ("queued", "Photos queued", "{{ value_json.q | int(0) }}",
     {"state_class": "measurement", "icon": "mdi:tray-full"}),
    ("held", "Photos held", "{{ value_json.h | int(0) }}",
     {"state_class": "measurement", "icon": "mdi:pause-circle"}),
    ("claims", "Open refund claims", "{{ value_json.c | int(0) }}",
     {"state_class": "measurement", "icon": "mdi:cash-refund"}),
    ("link", "Link", "{{ value_json.link }}", {"icon": "mdi:wifi"}),
    ("pace", "Account pace", "{{ ((value_json.cph | float(0)) / 100) | round(2) }}",
     {"unit_of_measurement": "$/h", "icon": "mdi:speedometer"}),
)


def ha_id(segment: str) -> str:
    """Discovery ids allow letters, digits, '_' and '-' only."""
    return _ID.sub("_", segment) or "unnamed"


def config_topics(topics: Topics) -> list[str]:
    node, booth = ha_id(topics.account), ha_id(topics.booth)
    return [f"{HA_PREFIX}/sensor/{node}/{booth}_{key}/config" for key, *_ in SENSORS]


def discovery_messages(topics: Topics, booth_name: str) -> list[tuple[str, bytes]]:
    """(topic, retained payload) for each sensor of this booth."""
    node, booth = ha_id(topics.account), ha_id(topics.booth)
    device = {"identifiers": [f"bcm_{node}_{booth}"], "name": f"Booth {booth_name}",
              "manufacturer": "Booth Credit Monitor", "model": "Booth PC"}
    out = []
    for topic, (key, name, template, extra) in zip(config_topics(topics), SENSORS,
                                                    strict=True):
        doc = {"name": name, "unique_id": f"bcm_{node}_{booth}_{key}",
               "object_id": f"bcm_{booth}_{key}", "state_topic": topics.state,
               "value_template": template, "availability_topic": topics.status,
               "payload_available": ONLINE, "payload_not_available": OFFLINE,
               "device": device, **extra}
        out.append((topic, json.dumps(doc, separators=(",", ":")).encode()))
    return out
