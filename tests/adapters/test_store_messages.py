"""Issue 10 #13: what the operator is told when the store file itself is wrong."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from app.adapters.store.cache_repo import CacheRepo
from app.adapters.store.db import Database
from app.core.errors import StorageError


def test_an_emptied_store_is_not_silently_started_over(tmp_path):
    path = tmp_path / "monitor.sqlite3"
    path.write_bytes(b"")
    old = time.time() - 3600
    os.utime(path, (old, old))
    with pytest.raises(StorageError, match="empty") as caught:
        Database(path)
    assert "No .bak copy exists" in caught.value.hint
    assert path.stat().st_size == 0  # left as found, for the operator or support


def test_a_store_being_created_by_another_process_is_not_called_empty(tmp_path):
    path = tmp_path / "monitor.sqlite3"
    path.write_bytes(b"")  # just created: another process of ours between create and write
    Database(path).close()


def test_the_damaged_store_hint_names_a_backup_only_when_one_exists(tmp_path):
    path = tmp_path / "monitor.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="damaged") as caught:
        CacheRepo(Database(path))
    assert "No .bak copy exists" in caught.value.hint
    (tmp_path / "monitor.before-jobs-v2.bak").write_bytes(b"x")
    with pytest.raises(StorageError, match="damaged") as caught:
        CacheRepo(Database(path))
    assert "monitor.before-jobs-v2.bak" in caught.value.hint


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    if not shutil.which("mount") or os.name != "posix" or os.geteuid() != 0:
        pytest.skip("a real full disk needs root to mount a small tmpfs")
    if subprocess.call(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)],
                       stderr=subprocess.DEVNULL) != 0:
        pytest.skip("mounting a small tmpfs was refused here")
    yield mount
    subprocess.call(["umount", "-l", str(mount)])


def test_a_full_disk_is_called_full_with_the_free_space(tiny_disk):
    db = Database(tiny_disk / "monitor.sqlite3")
    db.migrate("filler", ["CREATE TABLE f (x BLOB)"])
    with pytest.raises(StorageError) as caught:
        for _ in range(200):
            with db.transaction() as conn:
                conn.execute("INSERT INTO f VALUES (?)", (os.urandom(20_000),))
    assert "is full" in str(caught.value), caught.value
    assert "free" in str(caught.value)
