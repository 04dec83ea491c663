"""The MQTT broker link for the fleet view: one paho-mqtt client per booth, its connection kept
up with jittered backoff, TLS and a user name and password, and nothing else (what to publish
and how the view is built live in app.core.fleet and app.orchestration.fleet_path)."""
