"""The spool: every queued photo's bytes kept with its job until the cloud confirmed it (issue 10,
finding 2), on real files and a real store."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from app.adapters.intake.hot_folder import Intake
from app.adapters.store import Database, spool
from app.adapters.store.jobs_repo import JobsRepo
from app.core.jobs import JobState
from app.democloud.images import make_png

S = JobState


@pytest.fixture
def repo(tmp_path):
    db = Database(tmp_path / "data" / "monitor.sqlite3")
    yield JobsRepo(db)
    db.close()


def _intake(repo: JobsRepo, tmp_path: Path) -> Intake:
    from app.runtime import utc_now
    return Intake(repo, tmp_path / "out", tmp_path / "quarantine", utc_now)


def test_intake_keeps_a_private_copy_of_exactly_the_bytes_it_queued(repo, tmp_path):
    photo = tmp_path / "in" / "guest.png"
    photo.parent.mkdir()
    photo.write_bytes(make_png(9, 9))
    job = _intake(repo, tmp_path).submit(photo, "draw_me", "cli").job
    copy = Path(job.spool_path)
    assert copy.parent == repo.spool_folder
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == job.content_hash
    if os.name == "posix":
        assert copy.stat().st_mode & 0o077 == 0, "only this user can read the guest's photo"
    photo.write_bytes(make_png(10, 10))  # the booth software rewrites the file in place
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == job.content_hash


def test_the_same_photo_again_leaves_no_second_copy(repo, tmp_path):
    photo = tmp_path / "in" / "guest.png"
    photo.parent.mkdir()
    photo.write_bytes(make_png(9, 9))
    intake = _intake(repo, tmp_path)
    intake.submit(photo, "draw_me", "cli")
    os.utime(photo, ns=(1, 1))  # another mtime: hashed again, found to be the same photo
    again = intake.submit(photo, "draw_me", "cli")
    assert not again.created
    assert len(list(repo.spool_folder.iterdir())) == 1


def test_a_delivered_job_drops_its_copy_and_a_start_clears_what_a_kill_left(repo, tmp_path):
    intake = _intake(repo, tmp_path)
    jobs = []
    for n in range(3):
        photo = tmp_path / "in" / f"guest-{n}.png"
        photo.parent.mkdir(exist_ok=True)
        photo.write_bytes(make_png(9 + n, 9))
        jobs.append(intake.submit(photo, "draw_me", "cli").job)
    delivered, killed, open_job = jobs
    for job, keep_file in ((delivered, False), (killed, True)):
        claimed = repo.claim("me", job.created_at, 30)
        assert claimed.id == job.id
        for to in (S.SENDING, S.WAITING_RESULT, S.DOWNLOADING):
            claimed = repo.transition(claimed, "me", to, at=job.created_at, note="", release=False)
        if keep_file:  # a process killed between the last commit and the removal
            os.link(claimed.spool_path, str(claimed.spool_path) + ".kept")
        repo.transition(claimed, "me", S.SUCCEEDED, at=job.created_at, note="", release=True)
        if keep_file:
            os.replace(str(claimed.spool_path) + ".kept", claimed.spool_path)
    assert not Path(delivered.spool_path).exists()
    orphan = spool.store(b"a copy whose job was never committed", repo.spool_folder)
    needed, done = repo.spool_files()
    assert spool.prune(repo.spool_folder, needed, done, older_than=3600, now=time.time()) == 1
    assert not Path(killed.spool_path).exists()
    assert Path(open_job.spool_path).exists() and Path(orphan).exists()
    # An hour later the orphan goes too (no process takes an hour to commit a job).
    assert spool.prune(repo.spool_folder, needed, done, older_than=3600,
                       now=time.time() + 3601) == 1
    assert Path(open_job.spool_path).exists()
