"""Issue 10 #11: a photo is read with a cap, only from a regular file, sizes said exactly."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from app.adapters.intake.hot_folder import Intake, NotAPhoto
from app.adapters.intake.job_files import LocalFiles
from app.adapters.intake.photo_file import MAX_PHOTO_BYTES, read_photo
from app.adapters.store import Database
from app.adapters.store.jobs_repo import JobsRepo
from tests.jobs.fakes import Clock


@pytest.fixture
def intake(tmp_path):
    db = Database(tmp_path / "m.sqlite3")
    yield Intake(JobsRepo(db), tmp_path / "out", tmp_path / "quarantine", Clock())
    db.close()


def test_a_huge_file_is_refused_without_reading_it_all_and_the_limit_is_said_exactly(
        intake, tmp_path):
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as f:  # sparse: 200 MB on paper, no disk used
        f.write(b"\xff\xd8\xff")
        f.truncate(200 * 1000 * 1000)
    tracemalloc.start()
    try:
        with pytest.raises(NotAPhoto) as caught:
            intake.submit(huge, "draw_me", "cli")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_PHOTO_BYTES // 2, "the file must not be read to find it is too large"
    assert "200.0 MB" in caught.value.message and "15.7 MB" in caught.value.message
    assert "16 MB" not in caught.value.message


def test_a_file_just_over_the_limit_gives_sizes_that_differ(tmp_path):
    over = tmp_path / "over.jpg"
    over.write_bytes(b"\xff\xd8\xff" + b"\0" * (MAX_PHOTO_BYTES - 2))
    with pytest.raises(NotAPhoto, match=r"15,728,641 bytes.*15,728,640 bytes"):
        read_photo(over)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.timeout(10)
def test_a_pipe_is_refused_at_once_instead_of_blocking(intake, tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(NotAPhoto, match="pipe"):
        intake.submit(fifo, "draw_me", "cli")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_a_device_and_a_folder_are_refused(intake, tmp_path):
    with pytest.raises(NotAPhoto, match="device"):
        intake.submit(Path("/dev/zero"), "draw_me", "cli")
    with pytest.raises(NotAPhoto, match="folder"):
        intake.submit(tmp_path, "draw_me", "cli")


def test_the_re_read_before_sending_is_capped_too(tmp_path):
    """Issue 10 #11 (limit found after the fix): the runner re-reads the spool copy or the
    original before each upload; a file swapped for a huge one must not fill memory (it reads
    as changed: its bytes cannot match the queued hash)."""
    huge = tmp_path / "swapped.jpg"
    with open(huge, "wb") as handle:
        handle.truncate(MAX_PHOTO_BYTES * 4)
    assert len(LocalFiles().read(str(huge))) == MAX_PHOTO_BYTES + 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system (Windows)")
def test_a_pipe_swapped_in_for_a_queued_photo_does_not_block_the_re_read(tmp_path):
    pipe = tmp_path / "photo.jpg"
    os.mkfifo(pipe)
    assert LocalFiles().read(str(pipe)) == b""
