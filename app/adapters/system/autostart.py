"""Start at login: one small class per OS behind one interface.

- Windows: a value in HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run (per user, no
  administrator), the same value the installer's "Start when I log in" task writes.
- Linux and other XDG desktops: `$XDG_CONFIG_HOME/autostart/booth-credit-monitor.desktop`.
- macOS: a LaunchAgent plist in ~/Library/LaunchAgents, loaded by launchd at the next login.

The entry itself is the only record of the choice: Settings reads it back rather than keeping
a copy that could disagree with what the OS will do. Every failure becomes a StorageError
with words an operator can act on.
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from app import APP_DISPLAY_NAME, APP_NAME
from app.adapters.system.settings_file import write_atomic
from app.core.errors import StorageError

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "BoothCreditMonitor"  # the installer writes the same name (installer/windows/)
LAUNCH_AGENT_LABEL = "com.boothcreditmonitor.tray"
DESKTOP_FILE = f"{APP_NAME}.desktop"


class Autostart(Protocol):
    def is_enabled(self) -> bool: ...

    def enable(self, command: Sequence[str]) -> None: ...

    def disable(self) -> None: ...

    def where(self) -> str: ...


def launch_command(home: str | None = None, demo: bool = False) -> list[str]:
    """What starts this app at login: the frozen executable itself, or this Python running
    the app package (a source install). Only the profile's options are kept (--home, --demo);
    never anything secret."""
    if getattr(sys, "frozen", False):
        exe = Path(sys.executable)
        # The console twin (booth-credit-monitor-cli) would open a console window at login.
        windowed = exe.with_name(exe.name.replace("-cli", ""))
        command = [str(windowed if windowed.exists() else exe)]
    else:
        python = Path(sys.executable)
        # On Windows pythonw.exe starts without a console window flashing up at login.
        windowless = python.with_name("pythonw.exe")
        command = [str(windowless if os.name == "nt" and windowless.exists() else python),
                   "-m", "app"]
    if home:
        command += ["--home", str(Path(home).expanduser().resolve())]
    if demo:
        command.append("--demo")
    return command


def for_this_system() -> Autostart:
    if sys.platform == "win32":
        return WindowsRunKey()
    if sys.platform == "darwin":
        return MacLaunchAgent(Path.home() / "Library" / "LaunchAgents")
    return XdgAutostart(xdg_autostart_dir())


def xdg_autostart_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "autostart"


# -- Linux / XDG ---------------------------------------------------------------------------------


class XdgAutostart:
    """The XDG Autostart specification: a desktop entry in the user's autostart folder."""

    def __init__(self, folder: Path):
        self.path = folder / DESKTOP_FILE

    def is_enabled(self) -> bool:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return False
        # A user may switch it off by hand with Hidden=true (the spec's way to disable it).
        return "\nHidden=true" not in text and "\nX-GNOME-Autostart-enabled=false" not in text

    def enable(self, command: Sequence[str]) -> None:
        entry = "\n".join([
            "[Desktop Entry]",
            "Type=Application",
            f"Name={APP_DISPLAY_NAME}",
            "Comment=Watches the photo booth's AI credits",
            f"Exec={desktop_exec(command)}",
            "Terminal=false",
            "X-GNOME-Autostart-enabled=true",
            # Tray icons need the panel: ask GNOME/KDE to start us after it.
            "X-GNOME-Autostart-Delay=5",
            "",
        ])
        write_atomic(self.path, entry.encode("utf-8"))

    def disable(self) -> None:
        _remove(self.path)

    def where(self) -> str:
        return str(self.path)


def desktop_exec(command: Sequence[str]) -> str:
    """Quote an argument list for a desktop entry's Exec key (Desktop Entry spec, "The Exec
    key"): reserved characters inside double quotes, `"`, `` ` ``, `$` and `\\` escaped, and
    `%` doubled since a single one starts a field code."""
    reserved = set(" \t\n\"'\\><~|&;$*?#()`")
    out = []
    for arg in command:
        text = arg.replace("%", "%%")
        if any(c in reserved for c in text) or not text:
            text = '"' + "".join("\\" + c if c in '"`$\\' else c for c in text) + '"'
        out.append(text)
    # The desktop file's own escapes apply to the whole value first.
    return " ".join(out).replace("\\", "\\\\")


# -- macOS ---------------------------------------------------------------------------------------


class MacLaunchAgent:
    """A per-user LaunchAgent; launchd reads ~/Library/LaunchAgents at login."""

    def __init__(self, folder: Path):
        self.path = folder / f"{LAUNCH_AGENT_LABEL}.plist"

    def is_enabled(self) -> bool:
        try:
            data = plistlib.loads(self.path.read_bytes())
        except (OSError, plistlib.InvalidFileException, ValueError):
            return False
        return bool(data.get("RunAtLoad")) and not data.get("Disabled", False)

    def enable(self, command: Sequence[str]) -> None:
        doc = {"Label": LAUNCH_AGENT_LABEL, "ProgramArguments": list(command),
               "RunAtLoad": True, "ProcessType": "Interactive", "KeepAlive": False}
        write_atomic(self.path, plistlib.dumps(doc))

    def disable(self) -> None:
        _remove(self.path)

    def where(self) -> str:
        return str(self.path)


# -- Windows -------------------------------------------------------------------------------------


class WindowsRunKey:
    """HKCU\\...\\Run: per user, read by Explorer at every login."""

    def is_enabled(self) -> bool:
        import winreg  # Windows only; this class is only built there

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _kind = winreg.QueryValueEx(key, RUN_VALUE)
        except OSError:
            return False
        return bool(str(value).strip())

    def enable(self, command: Sequence[str]) -> None:
        import winreg

        try:
            with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0,
                                    winreg.KEY_SET_VALUE) as key:
                winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ,
                                  subprocess.list2cmdline(list(command)))
        except OSError as exc:
            raise _refused(exc) from None

    def disable(self) -> None:
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0,
                                winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, RUN_VALUE)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _refused(exc) from None

    def where(self) -> str:
        return f"HKEY_CURRENT_USER\\{RUN_KEY}\\{RUN_VALUE}"

    def command(self) -> str | None:
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                return str(winreg.QueryValueEx(key, RUN_VALUE)[0])
        except OSError:
            return None


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError(f"Cannot remove {path} ({exc.strerror}).",
                           hint="Check the folder's permissions.") from None


def _refused(exc: OSError) -> StorageError:
    return StorageError(f"Windows refused to change the start-at-login entry ({exc.strerror}).",
                        hint="Try again; if it keeps failing, use the installer's option.")
