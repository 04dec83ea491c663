"""The job path asks for an active probe only for a direction that has no reading younger than
the reuse window (issue 14): during a busy event the photos' own transfers answer the link
check and it costs no extra byte. The real job path, the real preflight, the demo cloud."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from app.adapters.store.probes_repo import ProbesRepo
from app.core.bandwidth_passive import PassiveReading
from app.core.jobs import FINAL, JobState
from app.democloud.images import make_png
from app.orchestration.job_path import JobPath
from app.runtime import Options, Runtime, utc_now

TOKEN = "demo-token"
WINDOW = 120  # Settings.preflight_max_age_seconds


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, memory_keyring, tmp_path: Path, demo_cloud):
    monkeypatch.setenv("BOOTH_MONITOR_TOKEN", TOKEN)
    rt = Runtime(Options(home=str(tmp_path / "home"), cloud_url=demo_cloud.url))
    rt.settings.preflight_max_age_seconds = WINDOW
    yield rt
    rt.close()


def reading(direction: str, age_seconds: float) -> PassiveReading:
    method = "tcp_info_acked" if direction == "up" else "tcp_info_received"
    return PassiveReading(direction, 20.0, utc_now() - timedelta(seconds=age_seconds), 1.5,
                          3_000_000, method, "job upload" if direction == "up" else "result")


def send_one_job(runtime: Runtime, tmp_path: Path) -> None:
    photo = tmp_path / "guest.png"
    photo.write_bytes(make_png(20, 20, (3, 4, 5)))
    jp = JobPath(runtime)  # the default link: the shared preflight, reuse window from Settings
    try:
        job = jp.intake.submit(photo, "background_removal", "cli").job
        assert job is not None
        assert jp.drive(lambda: jp.repo.get(job.id).state in FINAL, timeout=60) == "done"
        assert jp.repo.get(job.id).state is JobState.SUCCEEDED
    finally:
        jp.close()


def test_fresh_readings_both_ways_send_the_job_without_a_probe(runtime, tmp_path):
    probes = ProbesRepo(runtime.db)
    probes.record_passive(reading("up", 30))
    probes.record_passive(reading("down", 60))
    send_one_job(runtime, tmp_path)
    assert probes.latest_probe() is None  # no probe ran
    assert probes.spent_today(utc_now()).total_bytes == 0


def test_only_the_direction_without_a_fresh_reading_is_probed(runtime, tmp_path):
    probes = ProbesRepo(runtime.db)
    probes.record_passive(reading("up", 30))
    probes.record_passive(reading("down", WINDOW + 60))  # older than the window: not used
    send_one_job(runtime, tmp_path)
    probe = probes.latest_probe()
    assert probe is not None
    assert probe.details["up"]["method"] == "passive"
    assert probe.bytes_up == 0 and probe.bytes_down > 0  # only the download was measured


def test_no_fresh_reading_means_a_full_probe(runtime, tmp_path):
    probes = ProbesRepo(runtime.db)
    probes.record_passive(reading("up", WINDOW + 1))
    send_one_job(runtime, tmp_path)
    probe = probes.latest_probe()
    assert probe is not None and probe.bytes_up > 0 and probe.bytes_down > 0
