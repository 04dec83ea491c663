"""Shared fixtures. Qt runs offscreen; every test gets its own home folder and keyring."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# A developer's real settings, token or cloud must never leak into a test run.
for _var in ("BOOTH_MONITOR_HOME", "BOOTH_MONITOR_TOKEN", "BOOTH_MONITOR_CLOUD_URL"):
    os.environ.pop(_var, None)

from tests.support.keyring_backend import MemoryKeyring  # noqa: E402


@pytest.fixture(autouse=True)
def _own_autostart_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Start at login writes into $XDG_CONFIG_HOME/autostart: never the developer's own (the
    tray app and its subprocesses in every test see this folder instead)."""
    folder = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    return folder


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """The OS keyring, stood in for by an in-memory backend: no Secret Service or Windows
    Credential Manager runs on the CI machine. It can be locked to test that path."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def demo_cloud(tmp_path: Path):
    from app.democloud.server import DemoCloud

    cloud = DemoCloud(tmp_path / "cloud.sqlite3", job_seconds=0.2, refund_seconds=1.0, seed=7)
    cloud.start()
    yield cloud
    cloud.stop()


@pytest.fixture
def receiver():
    """A phone alert service on loopback (tests/support/alert_receiver.py)."""
    from tests.support.alert_receiver import Receiver, free_port

    r = Receiver(free_port())
    r.start()
    yield r
    r.stop()


@pytest.fixture
def proxy(demo_cloud):
    """The fault proxy in front of `demo_cloud` (tests/support/fault_proxy.py)."""
    from tests.support.fault_proxy import FaultProxy

    p = FaultProxy(demo_cloud.url)
    p.start()
    yield p
    p.stop()


@pytest.fixture(scope="session", autouse=True)
def _collect_qt_objects_before_exit():
    """Collect leftover Qt wrappers while the QApplication still exists: collected during
    interpreter shutdown instead, PySide6 can abort the whole run (exit 134) after all passed."""
    yield
    import gc

    gc.collect()
    try:
        from PySide6.QtCore import QCoreApplication, QEvent
    except ImportError:
        return
    if QCoreApplication.instance() is not None:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QCoreApplication.processEvents()
    gc.collect()


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, step: float = 0.02):
    """Poll a condition with a deadline (for non-Qt code; Qt tests use qtbot.waitUntil)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
