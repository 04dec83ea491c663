"""Phone alert tests: a real Runtime on its own home folder and keyring, and a real HTTP
receiver on loopback that takes Apprise's JSON webhook (json://127.0.0.1:PORT/path). The
receiver can be stopped and started again on the same port: an outage of the alert service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.orchestration.alert_path import AlertPath
from app.orchestration.alert_targets import save_targets
from app.runtime import Options, Runtime
from tests.support.alert_receiver import Receiver


@pytest.fixture
def runtime(home: Path, memory_keyring: Any) -> Iterator[Runtime]:
    rt = Runtime(Options(home=str(home), cloud_url="http://127.0.0.1:9"))
    rt.settings.booth_name = "Booth A"
    rt.save_settings()
    yield rt
    rt.close()


@pytest.fixture
def path(runtime: Runtime, receiver: Receiver) -> AlertPath:
    save_targets(runtime, [receiver.url])
    return AlertPath(runtime)
