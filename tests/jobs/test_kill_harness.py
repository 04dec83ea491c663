"""A short run of the kill -9 harness (benchmarks/kill_harness.py runs the long one)."""

from benchmarks.kill_child import KILL_POINTS
from benchmarks.kill_harness import RANDOM, run


def test_kills_inside_every_job_step_lose_nothing_and_charge_nothing_twice(tmp_path):
    report = run(kills=len(KILL_POINTS) + 1, photos=24, seed=3, workdir=tmp_path)
    assert report.ok, report.problems
    # One kill at each named point inside a job's life, one at a random moment.
    assert set(report.per_point) == {*KILL_POINTS, RANDOM}, report.per_point
    assert report.photos_deleted > 0, "some photos must be gone before they were delivered"
    assert report.checks["integrity_check"] == "ok"
    assert report.checks["max charges per job"] == "1"
    assert int(report.checks["whole results"]) >= 18
