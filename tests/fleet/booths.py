"""Simulated booths for the broker tests: each with its own SQLite store and outbox,
publishing through the real FleetPath and MqttLink."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from app.adapters.mqtt.link import BrokerConfig
from app.adapters.store import Database
from app.adapters.store.fleet_outbox_repo import FleetOutbox
from app.core.backoff import Backoff
from app.core.fleet import BoothState, Topics
from app.orchestration.fleet_path import FleetConfig, FleetPath
from app.runtime import utc_now

# Quick retries for a test (the real one waits 1-5 s, then up to 2 min).
FAST = Backoff(base=0.5, cap=2.0, floor=0.1)


def config(port: int, account: str, booth: str, *, clean: bool = False, user: str = "",
           password: str | None = None, tls: bool = False, ca_file: str = "") -> FleetConfig:
    return FleetConfig(BrokerConfig(host="127.0.0.1", port=port,
                                    client_id=f"bcm-{account}-{booth}", clean_session=clean,
                                    username=user, password=password, tls=tls,
                                    ca_file=ca_file), Topics(account, booth))


class SimBooth:
    def __init__(self, folder: Path, port: int, account: str, booth: str, seed: int = 0,
                 watch: bool = True, **kw: object):
        self.db = Database(folder / f"{booth}.sqlite3")
        self.outbox = FleetOutbox(self.db)
        self.state = BoothState(booth=booth, name=booth.replace("-", " ").title(),
                                balance_cents=50_000, balance_as_of=utc_now(), link="ok",
                                cents_per_hour=900.0)
        self.path = FleetPath(self.outbox, config(port, account, booth, **kw),  # type: ignore[arg-type]
                              lambda: replace(self.state), backoff=FAST,
                              rng=random.Random(seed), max_events=10_000,
                              min_interval=0.2, watch=watch)

    def change(self, **fields: object) -> None:
        self.state = replace(self.state, **fields)  # type: ignore[arg-type]
        self.path.state_changed()

    def latest_state_seq(self) -> int:
        rows = self.db.query("SELECT seq FROM fleet_outbox WHERE kind = 'state'")
        return int(rows[0][0]) if rows else 0

    def waiting(self) -> int:
        return sum(self.outbox.counts().values())

    def close(self) -> None:
        self.path.stop()
        self.db.close()
