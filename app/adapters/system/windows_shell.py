"""Windows' AppUserModelID for this process: without it the taskbar groups the app under
"Python" and toasts are labelled "Python" (or the frozen exe's file name), and a pin made on
the installer's shortcut would not match the running window. Does nothing elsewhere."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)


def set_app_user_model_id(app_id: str) -> bool:
    """True when Windows took it; False on other systems or if the call failed (the app works
    the same, only its taskbar and notification name are the interpreter's)."""
    if sys.platform != "win32":
        return False
    try:
        import ctypes

        shell32 = ctypes.windll.shell32  # type: ignore[attr-defined]
        result = shell32.SetCurrentProcessExplicitAppUserModelID(ctypes.c_wchar_p(app_id))
    except (AttributeError, OSError) as exc:
        log.info("AppUserModelID not set: %s", exc)
        return False
    if result != 0:  # an HRESULT: 0 is S_OK
        log.info("AppUserModelID not set: HRESULT 0x%08x", result & 0xFFFFFFFF)
        return False
    return True


def current_app_user_model_id() -> str | None:
    """What Windows has for this process (for the self-test and a Windows test)."""
    if sys.platform != "win32":
        return None
    import ctypes
    from ctypes import wintypes

    shell32 = ctypes.windll.shell32  # type: ignore[attr-defined]
    ole32 = ctypes.windll.ole32  # type: ignore[attr-defined]
    value = wintypes.LPWSTR()
    if shell32.GetCurrentProcessExplicitAppUserModelID(ctypes.byref(value)) != 0:
        return None
    try:
        return value.value
    finally:
        ole32.CoTaskMemFree(value)
