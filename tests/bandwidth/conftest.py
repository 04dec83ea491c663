"""The network-namespace lab for the bandwidth tests that need kernel-shaped links: built once
per test module, skipped with the reason where it cannot be (no root, no ip/tc)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bandwidth.netlab import NetLab, unavailable_reason


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetLab]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    net = NetLab(Path(tmp_path_factory.mktemp("netlab")))
    try:
        net.up()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"cannot build network namespaces here: {exc}")
    try:
        yield net
    finally:
        net.down()
