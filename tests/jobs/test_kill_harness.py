"""A short run of the kill -9 harness (benchmarks/kill_harness.py runs the long one)."""

from benchmarks.kill_harness import run


def test_a_few_hard_kills_lose_nothing_and_charge_nothing_twice(tmp_path):
    report = run(kills=4, photos=20, seed=3, workdir=tmp_path)
    assert report.ok, report.problems
    assert report.kills >= 3, "the child must be killed, not finish on its own"
    assert report.checks["integrity_check"] == "ok"
    assert report.checks["max charges per job"] == "1"
    assert int(report.checks["whole results"]) >= 15
