"""Whether another process (not our child) is still there, on Windows and POSIX.

`quit` uses it: the tray app answers a quit request with its process id, and "has quit" is
only said once that process is gone, not when it merely let go of its socket (Python and Qt
still tear down for a second or more after that).
"""

from __future__ import annotations

import os
import sys
import time

POLL_SECONDS = 0.05


def wait_for_exit(pid: int, timeout_s: float) -> bool:
    """True once process `pid` has ended (or never existed), False if it still runs after
    `timeout_s`."""
    if sys.platform == "win32":
        return _wait_windows(pid, timeout_s)
    deadline = time.monotonic() + max(timeout_s, 0.0)
    while _running_posix(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)  # no handle to wait on for a process that is not our child
    return True


def _running_posix(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: asks whether it exists, sends nothing
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process under that id
    # An ended process whose parent has not collected it yet (a zombie) still answers signal 0;
    # it holds nothing any more. Linux says so in /proc; elsewhere it counts as running.
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def _wait_windows(pid: int, timeout_s: float) -> bool:
    import ctypes
    from ctypes import wintypes

    synchronize, query_limited = 0x00100000, 0x1000
    wait_object_0, wait_timeout = 0x0, 0x102
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.WaitForSingleObject.restype = wintypes.DWORD
    kernel32.WaitForSingleObject.argtypes = (wintypes.HANDLE, wintypes.DWORD)
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    handle = kernel32.OpenProcess(synchronize | query_limited, False, pid)
    if not handle:
        # ERROR_INVALID_PARAMETER: no such process. Access denied: it exists, and is not ours
        # to wait on; say it is still there rather than that it quit.
        return ctypes.get_last_error() == 87  # type: ignore[attr-defined]
    try:
        result = kernel32.WaitForSingleObject(handle, int(max(timeout_s, 0.0) * 1000))
    finally:
        kernel32.CloseHandle(handle)
    if result == wait_timeout:
        return False
    return result == wait_object_0
