"""Start at login, per OS, for real: the XDG entry in a throwaway XDG_CONFIG_HOME (and the
command in it really starts this app), the LaunchAgent plist in a throwaway folder, the HKCU
Run value on Windows only."""

from __future__ import annotations

import plistlib
import shlex
import subprocess
import sys

import pytest

from app import APP_NAME, __version__
from app.adapters.system.autostart import (
    MacLaunchAgent,
    WindowsRunKey,
    XdgAutostart,
    desktop_exec,
    for_this_system,
    launch_command,
    xdg_autostart_dir,
)


def exec_args(desktop_text: str) -> list[str]:
    """Read an Exec line back the way the Desktop Entry spec says a launcher does: the
    string's own escapes first, then arguments split on spaces, double quotes grouping, and
    inside them a backslash before one of " ` $ \\ standing for that character."""
    line = next(v for v in desktop_text.splitlines() if v.startswith("Exec="))[len("Exec="):]
    text = line.replace("\\\\", "\\")
    args, current, quoted, i = [], "", False, 0
    while i < len(text):
        char = text[i]
        if quoted and char == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
            current, i = current + text[i + 1], i + 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == " " and not quoted:
            args.append(current)
            current = ""
        else:
            current += char
        i += 1
    args.append(current)
    return [arg.replace("%%", "%") for arg in args if arg]


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG entry is for Linux")
def test_the_xdg_entry_appears_and_disappears_and_starts_this_app(_own_autostart_folder,
                                                                   tmp_path):
    entry = for_this_system()
    assert isinstance(entry, XdgAutostart)
    path = _own_autostart_folder / "autostart" / f"{APP_NAME}.desktop"
    assert entry.where() == str(path) and not entry.is_enabled()
    home = tmp_path / "a home with spaces & $igns"
    entry.enable(launch_command(str(home)))
    assert path.exists() and entry.is_enabled()
    text = path.read_text()
    assert "Type=Application" in text and "Hidden=true" not in text
    command = exec_args(text)
    assert command[-2:] == ["--home", str(home.resolve())]
    # The very command a desktop would run at login starts this app (asked for its version).
    ran = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert ran.returncode == 0 and __version__ in ran.stdout, ran.stderr
    entry.disable()
    assert not path.exists() and not entry.is_enabled()
    entry.disable()  # twice is fine


def test_a_hand_disabled_xdg_entry_counts_as_off(tmp_path):
    entry = XdgAutostart(tmp_path)
    entry.enable(["/opt/app/booth"])
    entry.path.write_text(entry.path.read_text() + "Hidden=true\n")
    assert not entry.is_enabled()


@pytest.mark.parametrize(("args", "expected"), [
    (["/usr/bin/app"], "/usr/bin/app"),
    (["/opt/my app/run", "--home", "/h/100%"], '"/opt/my app/run" --home /h/100%%'),
    (['say"hi', "a$b"], '"say\\\\"hi" "a\\\\$b"'),
])
def test_exec_quoting_follows_the_desktop_entry_spec(args, expected):
    assert desktop_exec(args) == expected


def test_xdg_folder_ignores_a_relative_config_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert xdg_autostart_dir() == tmp_path / ".config" / "autostart"


def test_the_launch_agent_plist_runs_the_command_at_load(tmp_path):
    agent = MacLaunchAgent(tmp_path / "LaunchAgents")
    assert not agent.is_enabled()
    agent.enable(["/Applications/Booth Credit Monitor.app/Contents/MacOS/booth", "--demo"])
    data = plistlib.loads(agent.path.read_bytes())
    assert data["ProgramArguments"][-1] == "--demo" and data["RunAtLoad"] is True
    assert data["Label"] == agent.path.stem and agent.is_enabled()
    agent.disable()
    assert not agent.path.exists() and not agent.is_enabled()


def test_the_command_is_this_python_running_the_app_package():
    command = launch_command(None)
    assert command[1:] == ["-m", "app"] and "--demo" in launch_command(None, demo=True)


@pytest.mark.skipif(sys.platform != "win32",
                    reason="winreg exists only on Windows (the Windows workflow; not yet run)")
def test_the_run_key_value_appears_and_disappears():  # pragma: no cover - Windows only
    entry = WindowsRunKey()
    was = entry.command()
    try:
        entry.enable([sys.executable, "-m", "app", "--home", "C:\\booth data"])
        assert entry.is_enabled()
        assert '--home "C:\\booth data"' in (entry.command() or "")
        entry.disable()
        assert not entry.is_enabled()
    finally:
        if was:
            entry.enable(shlex.split(was, posix=False))
