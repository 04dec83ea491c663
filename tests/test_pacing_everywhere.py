"""Every request the app makes to the cloud takes a token from the one shared rate limit
(issue 14): the cloud client's calls, job uploads and polls, the bandwidth probe's requests and
the first-run "Test connection". Checked where it cannot be fooled: the demo cloud's own count
of this token's requests equals the shared bucket's count of tokens taken."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.adapters.cloud.jobs import CloudJobs
from app.democloud.images import make_png
from app.orchestration.setup_path import check_connection
from app.runtime import Options, Runtime
from tests.conftest import wait_until

TOKEN = "demo-token"


def server_total(url: str) -> int:
    state = httpx.get(f"{url}/demo/state", headers={"Authorization": f"Bearer {TOKEN}"})
    return int(state.json()["requests"]["total"])


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, memory_keyring, tmp_path: Path, demo_cloud):
    monkeypatch.setenv("BOOTH_MONITOR_TOKEN", TOKEN)
    rt = Runtime(Options(home=str(tmp_path / "home"), cloud_url=demo_cloud.url))
    yield rt
    rt.close()


def test_the_cloud_client_and_a_job_take_their_tokens(runtime: Runtime, demo_cloud):
    cloud = runtime.cloud()
    cloud.get_account()
    cloud.get_balance()
    jobs = CloudJobs(runtime.cloud)
    job = jobs.submit("background_removal", make_png(32, 32, (9, 9, 9)), "image/png", "bcm-p-1")
    assert job.id
    bucket = runtime.pacer_for(demo_cloud.url, TOKEN)
    assert server_total(demo_cloud.url) == bucket.taken() >= 3


def test_the_probe_takes_its_tokens_from_the_same_bucket(runtime: Runtime, demo_cloud):
    runtime.preflight().check(0)
    bucket = runtime.pacer_for(demo_cloud.url, TOKEN)
    # The upload's answer is read in the background; its request was counted long before.
    wait_until(lambda: server_total(demo_cloud.url) == bucket.taken(), timeout=5)
    assert bucket.taken() >= 3


def test_the_first_run_connection_test_is_paced(runtime: Runtime, demo_cloud):
    found = check_connection(demo_cloud.url, TOKEN, transport_for=runtime.cloud_transport)
    assert found.ok, found.text
    bucket = runtime.pacer_for(demo_cloud.url, TOKEN)
    assert server_total(demo_cloud.url) == bucket.taken() == 2  # account, balance


def test_the_setup_window_worker_tests_the_connection_paced(runtime: Runtime, demo_cloud,
                                                            qtbot):
    from app.gui.system_worker import SystemWorker

    worker = SystemWorker(lambda: runtime, lambda: None)
    with qtbot.waitSignal(worker.connection_tested) as seen:
        worker.test_connection(demo_cloud.url, TOKEN)
    assert seen.args[0].ok
    assert runtime.pacer_for(demo_cloud.url, TOKEN).taken() == server_total(demo_cloud.url) == 2
