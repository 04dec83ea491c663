"""Build the one-folder bundle for this OS: `python3 dev.py build` runs this in the venv.

    python installer/build.py [--dist DIR] [--work DIR]

1. icons from resources/app-icon.svg: app-icon.png (256 px) and a multi-size app-icon.ico
   (16-48 px as bitmaps, 256 px as PNG, which is what Explorer and NSIS both read);
2. the Windows version resource (version_info.txt) from app.__version__;
3. PyInstaller with installer/pyinstaller/booth.spec.
Then prints where the bundle is, its size and file count, also written to DIST/bundle.json.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "installer" / "pyinstaller" / "booth.spec"
NSIS_SCRIPT = ROOT / "installer" / "windows" / "booth-credit-monitor.nsi"
NAME = "booth-credit-monitor"
ICO_SIZES = (16, 24, 32, 48, 256)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--work", type=Path, default=ROOT / "build")
    parser.add_argument("--installer", action=argparse.BooleanOptionalAction,
                        default=os.name == "nt",
                        help="also compile the NSIS installer (default: on Windows only; the "
                        "bundle made on another OS is not a Windows program)")
    args = parser.parse_args(argv)
    work, dist = args.work.resolve(), args.dist.resolve()
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    make_icons(work / "icons")
    write_version_file(work / "version_info.txt")
    env = {**os.environ, "BOOTH_BUILD_DIR": str(work)}
    command = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm",
               "--distpath", str(dist), "--workpath", str(work / "pyinstaller"),
               "--log-level", "WARN"]
    print("build.py: " + " ".join(command), flush=True)
    if subprocess.call(command, env=env, cwd=ROOT) != 0:
        print("build.py: PyInstaller failed (above)", file=sys.stderr)
        return 1
    bundle = dist / NAME
    summary = describe(bundle)
    (dist / "bundle.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"build.py: {bundle}: {summary['megabytes']} MB in {summary['files']} files; "
          f"run {summary['cli']} self-test")
    if args.installer:
        from app import __version__

        setup = dist / f"{NAME}-setup-{__version__}.exe"
        done = compile_installer(bundle, setup, work / "icons" / "app-icon.ico")
        print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
        if done.returncode != 0:
            print("build.py: makensis failed (above)", file=sys.stderr)
            return 1
        print(f"build.py: installer {setup} ({round(setup.stat().st_size / 1e6, 1)} MB)")
    return 0


def makensis_command(payload: Path, outfile: Path, version: str,
                     icon: Path | None = None) -> list[str]:
    """makensis with the bundle folder as the payload; the same on Windows and Linux."""
    import shutil

    makensis = shutil.which("makensis") or "makensis"
    defines = [f"-DPAYLOAD={payload.resolve()}", f"-DVERSION={version}",
               f"-DOUTFILE={outfile.resolve()}"]
    if icon is not None and icon.exists():
        defines.append(f"-DICON={icon.resolve()}")
    # makensis works in the script's folder: every path given to it must be absolute.
    return [makensis, "-V3", *defines, str(NSIS_SCRIPT)]


def compile_installer(payload: Path, outfile: Path, icon: Path | None = None,
                      version: str | None = None) -> subprocess.CompletedProcess[str]:
    if version is None:
        from app import __version__ as version
    return subprocess.run(makensis_command(payload, outfile, version, icon),
                          capture_output=True, text=True, timeout=600)


def describe(bundle: Path) -> dict[str, object]:
    files = [Path(top, name) for top, _dirs, names in os.walk(bundle) for name in names]
    files = [p for p in files if not p.is_symlink()]  # links inside the bundle count once
    size = sum(p.stat().st_size for p in files)
    exe = ".exe" if os.name == "nt" else ""
    return {"bundle": str(bundle), "files": len(files), "bytes": size,
            "megabytes": round(size / 1_000_000, 1),
            "tray": str(bundle / f"{NAME}{exe}"), "cli": str(bundle / f"{NAME}-cli{exe}")}


# -- icons -----------------------------------------------------------------------------------------


def make_icons(folder: Path) -> None:
    """Rendered by the app's own code (app.gui.assets), so the icon in Explorer, the installer
    and the window are the same drawing."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QGuiApplication, QImage

    from app.gui.assets import render_icon

    _app = QGuiApplication.instance() or QGuiApplication([NAME])
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for size in ICO_SIZES:
        image = render_icon(size).convertToFormat(QImage.Format.Format_ARGB32)
        if image.isNull():
            raise SystemExit("build.py: resources/app-icon.svg could not be drawn")
        if size == 256:
            buffer = QBuffer()
            buffer.open(QIODevice.OpenModeFlag.WriteOnly)
            image.save(buffer, "PNG")
            data = bytes(buffer.data().data())
            (folder / "app-icon.png").write_bytes(data)
        else:
            data = dib(image)
        entries.append((size, data))
    (folder / "app-icon.ico").write_bytes(ico(entries))


def dib(image) -> bytes:
    """A 32-bit icon bitmap: BITMAPINFOHEADER (height doubled for the mask), BGRA rows bottom
    up, then an all-clear AND mask (the alpha channel does the masking)."""
    size = image.width()
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, 0, 0, 0, 0, 0)
    row = size * 4
    raw = bytes(image.constBits())[: row * size]  # ARGB32 is B, G, R, A in memory
    pixels = b"".join(raw[y * row:(y + 1) * row] for y in reversed(range(size)))
    mask_row = ((size + 31) // 32) * 4
    return header + pixels + bytes(mask_row * size)


def ico(entries: list[tuple[int, bytes]]) -> bytes:
    out = struct.pack("<HHH", 0, 1, len(entries))
    offset = 6 + 16 * len(entries)
    for size, data in entries:
        side = 0 if size >= 256 else size  # 0 means 256 in an icon directory
        out += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    return out + b"".join(data for _, data in entries)


# -- version resource ----------------------------------------------------------------------------


def write_version_file(path: Path) -> None:
    from app import APP_DISPLAY_NAME, __version__

    numbers = tuple(int(n) for n in (__version__.split(".") + ["0"] * 4)[:4])
    strings = {"CompanyName": APP_DISPLAY_NAME, "FileDescription": APP_DISPLAY_NAME,
               "FileVersion": __version__, "InternalName": NAME,
               "OriginalFilename": f"{NAME}.exe", "ProductName": APP_DISPLAY_NAME,
               "ProductVersion": __version__, "LegalCopyright": APP_DISPLAY_NAME}
    table = ", ".join(f"StringStruct({k!r}, {v!r})" for k, v in strings.items())
    path.write_text(
        "VSVersionInfo(\n"
        f"  ffi=FixedFileInfo(filevers={numbers}, prodvers={numbers}, mask=0x3f, flags=0x0,\n"
        "                    OS=0x40004, fileType=0x1, subtype=0x0, date=(0, 0)),\n"
        f"  kids=[StringFileInfo([StringTable('040904B0', [{table}])]),\n"
        "        VarFileInfo([VarStruct('Translation', [1033, 1200])])]\n"
        ")\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
