"""Fixtures for the fleet tests: a real Mosquitto per test (skipped, with the reason, where it
is not installed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.broker import Broker, mosquitto_missing


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    reason = mosquitto_missing()
    if reason:
        pytest.skip(reason)
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()
