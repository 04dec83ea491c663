"""The Windows installer, exercised on Linux: makensis compiles installer/windows/ with a
stand-in payload, and Wine runs it silently in a throwaway prefix: files, the Start-menu
shortcut, the HKCU Run value when start at login is chosen, an upgrade in place over it, and
uninstalls that keep the data folder unless asked.

`python3 dev.py test` installs Debian's nsis and wine as root; where either is missing these
tests skip and say so. Wine 8's shell link keeps no property store (its SetValue is a stub), so
the AppUserModelID on the shortcut is checked only as far as the installer asking for it; reading
it back needs real Windows: .github/workflows/windows.yml does, but it has not run yet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from installer.build import compile_installer  # noqa: E402

RUN_KEY = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run"
UNINST_KEY = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\BoothCreditMonitor"
APP_ID = "BoothCreditMonitor.Tray"

needs_makensis = pytest.mark.skipif(
    shutil.which("makensis") is None,
    reason="makensis not found (Debian package nsis; `python3 dev.py test` installs it as root)")
needs_wine = pytest.mark.skipif(
    shutil.which("wine") is None or shutil.which("wineserver") is None,
    reason="wine not found (Debian packages wine, wine64; `python3 dev.py test` installs them "
    "as root)")


# A real Windows program standing in for the CLI, compiled by makensis too: it only writes down
# how it was called, so the test sees the installer ask the running copy to quit.
STAND_IN_CLI = r"""
Unicode true
Target amd64-unicode
SilentInstall silent
RequestExecutionLevel user
OutFile "${OUT}"
Section
  FileOpen $0 "${CALLS}" a
  FileSeek $0 0 END
  FileWrite $0 "$CMDLINE$\r$\n"
  FileClose $0
SectionEnd
"""


def wine_path(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")  # Wine maps / to drive Z:


def stand_in_cli(folder: Path, calls: Path) -> Path:
    script, out = folder / "stand-in-cli.nsi", folder / "stand-in-cli.exe"
    script.write_text(STAND_IN_CLI)
    done = subprocess.run(["makensis", "-V2", f"-DOUT={out}", f"-DCALLS={wine_path(calls)}",
                           str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    return out


def stand_in_payload(folder: Path, version: str, cli: Path) -> Path:
    """What PyInstaller's one-folder bundle looks like: text where the tray program would be,
    and the stand-in CLI."""
    (folder / "_internal").mkdir(parents=True)
    (folder / "booth-credit-monitor.exe").write_text(f"tray {version}")
    shutil.copy(cli, folder / "booth-credit-monitor-cli.exe")
    (folder / "_internal" / f"lib-{version}.txt").write_text(version)
    return folder


@pytest.fixture(scope="module")
def installers(tmp_path_factory) -> dict[str, Path]:
    if shutil.which("makensis") is None:
        pytest.skip("makensis not found (Debian package nsis)")
    base = tmp_path_factory.mktemp("nsis")
    # The app's icon as build.py makes it, so makensis reads our own .ico writer's output.
    icons = base / "icons"
    drawn = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; sys.path.insert(0, "
         f"{str(ROOT)!r}); from installer.build import make_icons; make_icons(Path(sys.argv[1]))",
         str(icons)], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert drawn.returncode == 0, drawn.stderr
    made = {"calls": base / "cli-calls.txt"}
    cli = stand_in_cli(base, made["calls"])
    for version in ("0.1.0", "0.2.0"):
        payload = stand_in_payload(base / f"payload-{version}", version, cli)
        out = base / f"setup-{version}.exe"
        done = compile_installer(payload, out, icons / "app-icon.ico", version=version)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        made[version] = out
    return made


@needs_makensis
def test_makensis_compiles_the_script_into_a_windows_program(installers):
    for setup in (installers["0.1.0"], installers["0.2.0"]):
        head = setup.read_bytes()[:2]
        assert head == b"MZ" and setup.stat().st_size > 30_000


class Wine:
    def __init__(self, prefix: Path):
        self.prefix = prefix
        self.env = {**os.environ, "WINEPREFIX": str(prefix), "WINEARCH": "win64",
                    "WINEDEBUG": "-all,fixme+shell", "WINEDLLOVERRIDES": "mscoree,mshtml=",
                    "DISPLAY": ""}

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["wine", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        self.wait()
        return done

    def wait(self) -> None:
        """Until every program in the prefix has ended (the uninstaller runs a copy of itself
        from the temp folder and returns at once)."""
        subprocess.run(["wineserver", "-w"], env=self.env, timeout=300, check=False)

    def stop(self) -> None:
        subprocess.run(["wineserver", "-k"], env=self.env, timeout=60, check=False)

    def reg_value(self, key: str, name: str) -> str | None:
        done = subprocess.run(["wine", "reg", "query", key, "/v", name], env=self.env,
                              capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
        for line in done.stdout.replace("\r", "").splitlines():
            parts = line.strip().split(None, 2)
            if len(parts) == 3 and parts[0] == name:
                return parts[2]
        return None

    def user_folder(self, *parts: str) -> Path:
        users = [p for p in (self.prefix / "drive_c" / "users").iterdir()
                 if p.name not in ("Public", "public")]
        return users[0].joinpath(*parts)


def points_at(link: Path, name: str) -> bool:
    data = link.read_bytes()
    return name.encode("utf-16-le") in data or name.encode() in data


@pytest.fixture
def wine(tmp_path):
    prefix = Wine(tmp_path / "prefix")
    yield prefix
    prefix.stop()


@needs_makensis
@needs_wine
def test_install_upgrade_and_uninstall_in_a_wine_prefix(installers, wine):
    first = wine.run(str(installers["0.1.0"]), "/S")
    assert first.returncode == 0, first.stderr[-2000:]
    app = wine.user_folder("AppData", "Local", "Programs", "Booth Credit Monitor")
    link = wine.user_folder("AppData", "Roaming", "Microsoft", "Windows", "Start Menu",
                            "Programs", "Booth Credit Monitor.lnk")
    assert (app / "booth-credit-monitor.exe").read_text() == "tray 0.1.0"
    assert (app / "_internal" / "lib-0.1.0.txt").exists() and (app / "uninstall.exe").exists()
    assert link.exists() and points_at(link, "booth-credit-monitor.exe")
    # The installer set the AppUserModelID through the shortcut's property store.
    assert "propertystore_SetValue" in first.stderr
    run_value = wine.reg_value(RUN_KEY, "BoothCreditMonitor")
    assert run_value is not None and run_value.endswith('booth-credit-monitor.exe"')
    assert wine.reg_value(UNINST_KEY, "DisplayVersion") == "0.1.0"
    data = wine.user_folder("AppData", "Local", "booth-credit-monitor")
    (data / "data").mkdir(parents=True)
    (data / "data" / "monitor.sqlite3").write_text("the operator's history")

    calls = installers["calls"]
    assert not calls.exists()  # a first install has no running copy to ask

    # Upgrade in place, start at login unticked: same folder, new files only, no Run value.
    second = wine.run(str(installers["0.2.0"]), "/S", "/AUTOSTART=0")
    assert second.returncode == 0, second.stderr[-2000:]
    # ...after asking the running copy to quit the way its menu does, before any kill.
    asked = calls.read_text().splitlines()
    assert len(asked) == 1 and asked[0].endswith("booth-credit-monitor-cli.exe\" quit --wait 15")
    assert (app / "booth-credit-monitor.exe").read_text() == "tray 0.2.0"
    assert sorted(p.name for p in (app / "_internal").iterdir()) == ["lib-0.2.0.txt"]
    assert link.exists() and wine.reg_value(UNINST_KEY, "DisplayVersion") == "0.2.0"
    assert wine.reg_value(RUN_KEY, "BoothCreditMonitor") is None
    # Another upgrade keeps that choice instead of switching it back on.
    wine.run(str(installers["0.2.0"]), "/S")
    assert wine.reg_value(RUN_KEY, "BoothCreditMonitor") is None

    # Uninstall: the program, its shortcut and entries go; the operator's data stays.
    wine.run(str(app / "uninstall.exe"), "/S")
    assert calls.read_text().splitlines()[-1].endswith("quit --wait 15")
    assert len(calls.read_text().splitlines()) == 3  # the second upgrade asked too
    assert not app.exists() and not link.exists()
    assert wine.reg_value(UNINST_KEY, "DisplayName") is None
    assert (data / "data" / "monitor.sqlite3").read_text() == "the operator's history"

    # Asked to, it deletes the data too.
    wine.run(str(installers["0.2.0"]), "/S", "/AUTOSTART=1")
    assert wine.reg_value(RUN_KEY, "BoothCreditMonitor") is not None
    wine.run(str(app / "uninstall.exe"), "/S", "/DELETEDATA")
    assert not app.exists() and not data.exists()
    assert wine.reg_value(RUN_KEY, "BoothCreditMonitor") is None
