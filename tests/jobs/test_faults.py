"""Every fault from the issue, against the real demo cloud: each ends in the right state, with a
message an operator can act on, and never with a second charge."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from app.core.jobs import JobState
from tests.conftest import wait_until
from tests.jobs.conftest import JobEnv
from tests.support.fault_proxy import FaultProxy

S = JobState


def assert_charged_once(env: JobEnv, jobs) -> None:
    charges = env.charges()
    for job in jobs:
        assert env.cloud_jobs_for(job) == 1, f"{job.id}: the cloud made more than one job"
        assert charges.get(job.idempotency_key) == 1, f"{job.id}: charged {charges}"


def kinds(env: JobEnv) -> set[str]:
    return {e.kind for e in env.events}


# -- the link ---------------------------------------------------------------------------------


def test_connection_refused_then_back_replays_in_order_with_one_charge_each(
        proxied: JobEnv, proxy: FaultProxy):
    proxy.stop()  # nothing listens: connections are refused
    jobs = proxied.queue(4)
    wait_until(lambda: not proxied.engine.status().online)
    assert "connect" in proxied.engine.status().offline_reason.lower()
    # A job sent alongside the one that found the link down is still in its upload step when
    # the engine goes offline; it comes back to the queue a moment later, never to "failed".
    wait_until(lambda: all(proxied.job(j).state is S.PENDING for j in jobs))
    proxy.start()  # same port
    proxied.wait_state(jobs, S.SUCCEEDED)
    assert_charged_once(proxied, jobs)
    sent_at = [next(e.at for e in proxied.repo.history(j.id) if e.to_state is S.SENDING)
               for j in jobs]
    assert sent_at == sorted(sent_at), "replayed in queue order"
    assert {"offline", "online"} <= kinds(proxied)


@pytest.mark.parametrize("fault", ["reset_upload", "reset_after", "hang_after"])
def test_upload_cut_off_or_answer_lost_is_resent_under_the_same_key(
        proxied: JobEnv, proxy: FaultProxy, fault: str):
    """reset_upload: the cloud never got the photo; reset_after / hang_after (a timeout): the
    cloud made and charged the job but its answer never arrived. Either way: one charge."""
    proxy.inject(fault, method="POST", path="/v1/jobs")
    [job] = proxied.queue(1)
    proxied.wait_state([job], S.SUCCEEDED)
    assert_charged_once(proxied, [job])
    history = proxied.repo.history(job.id)
    assert any(e.to_state is S.PENDING and "link_down" in e.note for e in history)
    assert proxied.job(job).attempts == 1
    assert (proxied.output / "guest-001.draw_me.png").exists()


@pytest.mark.parametrize(("status", "headers", "counts"), [
    (500, {}, 1),
    (503, {"Retry-After": "1"}, 0),
    (429, {"Retry-After": "1"}, 0),
])
def test_server_errors_are_retried(proxied: JobEnv, proxy: FaultProxy, status, headers, counts):
    proxy.inject("status", method="POST", path="/v1/jobs", status=status, headers=headers)
    [job] = proxied.queue(1)
    proxied.wait_state([job], S.SUCCEEDED)
    assert proxied.job(job).attempts == counts  # waiting as told uses up no retry
    assert_charged_once(proxied, [job])
    note = next(e.note for e in proxied.repo.history(job.id) if e.from_state is S.SENDING)
    assert ("slow down" in note) if status == 429 else (f"HTTP {status}" in note)


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/jobs/"])
def test_a_cut_off_json_answer_counts_as_offline(
        proxied: JobEnv, proxy: FaultProxy, path: str):
    """A 200 whose JSON is cut off did not come from the cloud as the contract describes:
    offline (docs/cloud-api.md §3), not a protocol error.
    "/v1/jobs" hits the submit; "/v1/jobs/" the status poll of the accepted job."""
    proxy.inject("malformed", method="POST" if path == "/v1/jobs" else "GET", path=path)
    [job] = proxied.queue(1)
    proxied.wait_state([job], S.SUCCEEDED)
    assert "offline" in kinds(proxied)
    assert any("cut off" in e.note for e in proxied.repo.history(job.id))
    assert_charged_once(proxied, [job])


def test_a_result_download_that_fails_is_fetched_again_without_a_new_charge(
        proxied: JobEnv, proxy: FaultProxy):
    proxy.inject("reset_after", method="GET", path="/v1/jobs/", times=3)
    [job] = proxied.queue(1)
    proxied.wait_state([job], S.SUCCEEDED)
    assert_charged_once(proxied, [job])


def test_captive_portal_html_counts_as_offline(env: JobEnv):
    env.demo("outage", {"mode": "captive_portal", "seconds": 1.5})
    [job] = env.queue(1)
    wait_until(lambda: "login" in (env.job(job).last_error or "").lower())
    assert env.job(job).state is S.PENDING
    env.wait_state([job], S.SUCCEEDED)
    assert_charged_once(env, [job])
    assert "offline" in kinds(env)


def test_a_dropped_cloud_comes_back_and_the_backlog_drains(env: JobEnv):
    env.demo("outage", {"mode": "drop", "seconds": 1.5})
    jobs = env.queue(3)
    env.wait_state(jobs, S.SUCCEEDED)
    assert_charged_once(env, jobs)


# -- what only the operator can fix -------------------------------------------------------------


def test_expired_token_pauses_the_queue_until_it_works_again(env: JobEnv):
    env.demo("revoke-token")
    [job] = env.queue(1)
    wait_until(lambda: env.repo.pause_state() is not None)
    pause = env.repo.pause_state()
    assert pause.kind == "auth" and "token has expired" in pause.message
    assert env.job(job).state is S.PENDING and env.job(job).attempts == 0
    env.demo("restore")
    env.wait_state([job], S.SUCCEEDED)
    assert env.repo.pause_state() is None
    assert {"paused", "resumed"} <= kinds(env)


def test_insufficient_credits_pause_the_queue_and_resume_after_a_top_up(env: JobEnv):
    while env.demo("other-booth-spend", {"feature": "draw_me", "count": 200})["count"]:
        pass  # another booth drains the shared balance
    jobs = env.queue(2)
    wait_until(lambda: env.repo.pause_state() is not None)
    assert env.repo.pause_state().kind == "credits"
    assert "credits" in env.repo.pause_state().message.lower()
    assert all(env.job(j).state is S.PENDING and env.job(j).attempts == 0 for j in jobs)
    assert env.charges() == {} or all(j.idempotency_key not in env.charges() for j in jobs)
    env.demo("coupon-bonus", {"amount_cents": 10_000})
    env.wait_state(jobs, S.SUCCEEDED)
    assert_charged_once(env, jobs)


# -- the photo and the folders -------------------------------------------------------------------


def test_a_photo_deleted_after_it_was_queued_is_still_sent_from_the_spool(env: JobEnv):
    env.engine.stop()
    [job] = env.queue(1)
    (env.root / "in" / "guest-001.png").unlink()
    env.engine.start()
    env.wait_state([job], S.SUCCEEDED)
    assert_charged_once(env, [job])
    assert not Path(env.job(job).spool_path).exists(), "the copy goes once the result is in"


@pytest.mark.parametrize("fate", ["deleted", "overwritten"])
def test_a_lost_answer_then_a_kill_then_the_photo_gone_is_resent_under_its_key(
        proxied: JobEnv, proxy: FaultProxy, fate: str):
    """Issue 10, finding 2: the upload reached the cloud (charged), its 201 was lost, the
    process died mid-send, and the booth software deleted or rewrote the photo. The job is
    re-sent from its spool copy under the same key: the cloud answers with the job it already
    has, the result is delivered, one charge."""
    proxy.inject("reset_after", method="POST", path="/v1/jobs")
    [job] = proxied.queue(1)
    wait_until(lambda: any("link_down" in e.note for e in proxied.repo.history(job.id)))
    proxied.engine.stop()
    assert proxied.cloud_jobs_for(job) == 1 and proxied.charges()[job.idempotency_key] == 1
    # What a process killed inside the re-send leaves behind: "sending", leased by the dead.
    dead = proxied.repo.claim("killed-process", proxied.job(job).updated_at, 1)
    proxied.repo.transition(dead, "killed-process", S.SENDING, at=dead.updated_at,
                            note="upload started", release=False)
    photo = proxied.root / "in" / "guest-001.png"
    if fate == "deleted":
        photo.unlink()
    else:
        photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"another guest" * 20)
    proxied.engine.start()
    proxied.wait_state([job], S.SUCCEEDED)
    assert_charged_once(proxied, [job])


def test_a_photo_whose_spool_copy_is_gone_too_fails_as_never_sent(env: JobEnv):
    env.engine.stop()
    [job] = env.queue(1)
    (env.root / "in" / "guest-001.png").unlink()
    Path(job.spool_path).unlink()
    env.engine.start()
    env.wait_state([job], S.FAILED)
    assert "deleted or moved" in env.job(job).last_error
    assert env.cloud_jobs_for(job) == 0


def test_a_photo_the_cloud_rejects_fails_permanently(env: JobEnv):
    bad = env.root / "in" / "cut.png"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(env.photo().read_bytes()[:30])  # a PNG cut short on the booth's disk
    job = env.intake.submit(bad, "draw_me", "cli").job
    env.engine.wake()
    env.wait_state([job], S.FAILED)
    assert "not a valid image" in env.job(job).last_error
    assert env.job(job).attempts == 0 or env.job(job).attempts == 1
    assert env.cloud_jobs_for(job) == 0


@pytest.fixture
def tiny_output(tmp_path):
    """A 64 kB tmpfs as the output folder (needs root and mount; skipped otherwise)."""
    target = tmp_path / "out"
    target.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small disk to fill")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(target)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({done.stderr.strip()})")
    yield target
    subprocess.run(["umount", "-l", str(target)], check=False)


def test_disk_full_in_the_output_folder_keeps_the_job_and_charges_once(env: JobEnv,
                                                                        tiny_output):
    filler = tiny_output / f"filler-{uuid.uuid4().hex}"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    [job] = env.queue(1)
    wait_until(lambda: env.job(job).last_error_kind == "output_folder")
    stored = env.job(job)
    assert stored.state is S.DOWNLOADING and stored.attempts == 0
    assert "is full" in stored.last_error
    assert not [p for p in tiny_output.iterdir() if p != filler], "no half-written result"
    filler.unlink()
    env.wait_state([job], S.SUCCEEDED)
    assert_charged_once(env, [job])
