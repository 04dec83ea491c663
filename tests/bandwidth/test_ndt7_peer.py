"""The bandwidth matrix's ndt7 column: M-Lab's npm client against the local ndt7 server, on
loopback with a 1 s test (the matrix runs the spec's 10 s on shaped links), and the reason the
column gives when it cannot run."""

from __future__ import annotations

import shutil

import pytest

from benchmarks import _ndt7


def test_without_node_the_column_says_why(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    reason = _ndt7.ndt7_reason(install=False)
    assert reason is not None and "Node.js is not installed" in reason


@pytest.fixture
def server():
    reason = _ndt7.ndt7_reason()
    if reason:
        pytest.skip(reason)
    running = _ndt7.Ndt7Server("127.0.0.1", port=0, seconds=1.0)
    yield running
    running.close()


@pytest.mark.parametrize("reverse", [False, True], ids=["upload", "download"])
def test_the_npm_client_measures_against_the_local_server(server, reverse: bool):
    run = _ndt7.ndt7(server.address, reverse=reverse)
    # ndt7's own figure: the server's kernel count over the server's clock.
    assert run.bytes > 100_000 and run.mbps > 1.0
    assert run.seconds >= 0.9  # the whole 1 s test ran
    assert run.mbps == pytest.approx(run.bytes * 8 / 1e6 / 1.0, rel=0.5)


def test_the_matrix_puts_preflight_ndt7_and_iperf3_side_by_side_or_says_why_not():
    from app.core.bandwidth import ProbePolicy
    from benchmarks._peers import IperfRun
    from benchmarks.bandwidth_matrix import HEADER, Cell, Run, table, targets

    policy = ProbePolicy()
    runs = [Run(5.6, "ok", 2.4, 1_500_000)]
    full = [Cell(5.5, 200, d, IperfRun(5.3, 5.35, 10.1, 6_700_000),
                 _ndt7.Ndt7Run(5.1, 10.2, 6_400_000), list(runs)) for d in ("up", "down")]
    row = dict(zip(HEADER[:10], table(full, policy)[2].strip("| ").split(" | "), strict=False))
    cols = table(full, policy)[2].strip("| ").split(" | ")
    assert row["expected"] == "marginal" and cols[10:] == [
        "5.10", "-3.8", "marginal", "10.2", "6.4", "5.35", "+0.9", "marginal", "10.1", "6.7"]
    # preflight 2.4 s of ndt7's 2 x 10.2 s, 3 MB of its 12.8 MB
    assert any("0.12x its time, 0.23x its bytes" in line for line in targets(full, policy, []))
    bare = [Cell(5.5, 200, d, None, None, list(runs)) for d in ("up", "down")]
    cols = table(bare, policy)[2].strip("| ").split(" | ")
    assert cols[3] == "5.50" and cols[10] == "skipped" and cols[15] == "skipped"
    why = ["iperf3 skipped: iperf3 is not installed", "ndt7 skipped: Node.js is not installed"]
    assert targets(bare, policy, why)[-2:] == why
