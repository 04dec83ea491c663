"""wait_for_exit: another process's end, seen the same way on Windows and POSIX."""

from __future__ import annotations

import subprocess
import sys

from app.adapters.system.processes import wait_for_exit


def test_a_running_process_is_there_and_an_ended_one_is_not():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        assert wait_for_exit(child.pid, 0) is False
        assert child.stdin is not None
        child.stdin.close()  # it ends now; not collected yet (a zombie on POSIX): ended
        assert wait_for_exit(child.pid, 30) is True
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)
    assert wait_for_exit(child.pid, 0) is True  # collected: no such process at all
