"""Issue 10 #14: the upgrade backup and the log hold what the store holds (hosts, photos, the
account); they were 0644 while the store is 0600."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from app.adapters.store.db import Database
from app.adapters.system.logs import _PrivateRotatingFileHandler

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX; on Windows "
                                "the per-user profile's ACL protects these files")


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_upgrade_backup_is_readable_by_this_user_only(tmp_path):
    old = os.umask(0o022)
    try:
        db = Database(tmp_path / "monitor.sqlite3")
        target = db.backup("before-jobs-v2")
    finally:
        os.umask(old)
    assert target.name == "monitor.before-jobs-v2.bak"
    assert mode(target) == 0o600


def test_the_log_is_readable_by_this_user_only_also_after_rotation(tmp_path):
    log_file = tmp_path / "monitor.log"
    log_file.write_text("from an older version\n")
    log_file.chmod(0o644)
    handler = _PrivateRotatingFileHandler(log_file, maxBytes=200, backupCount=2,
                                          encoding="utf-8", delay=True)
    try:
        for n in range(20):
            handler.emit(logging.makeLogRecord({"msg": f"line {n} " + "x" * 40}))
    finally:
        handler.close()
    files = sorted(tmp_path.glob("monitor.log*"))
    assert len(files) == 3
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
