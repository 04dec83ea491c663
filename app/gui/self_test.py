"""`self-test`: checks what a frozen build most often loses, and says it as JSON.

    qt_platform_plugin  the OS's own platform plugin file is in the bundle, and Qt starts
    icons_and_style     the style sheet, the app icon (QtSvg) and a drawn tray icon
    sqlite_wal          the app's own store opens a file in WAL mode, writes and reads back
    tls_trust_store     the CA bundle HTTPS uses loads, with certificates in it
    keyring_backend     keyring's backends were found (their entry points are metadata the
                        bundle must carry), and whether the OS keyring answers
    app_user_model_id   Windows only: the taskbar/notification name is set

The JSON goes to stdout and, with --out, to a file (the windowed Windows executable has no
stdout). Results are written after every check, so a check that takes the process down (Qt
aborts when no platform plugin loads) still leaves the ones before it behind.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app import APP_NAME, APP_USER_MODEL_ID, __version__

NATIVE_PLUGIN = {"win32": "qwindows.dll", "darwin": "libqcocoa.dylib"}
NATIVE_KEYRING = {"win32": "WinVaultKeyring", "darwin": "Keyring"}


def run_self_test(out: Path | None = None) -> tuple[bool, dict[str, Any]]:
    report: dict[str, Any] = {"app": APP_NAME, "version": __version__,
                              "frozen": bool(getattr(sys, "frozen", False)),
                              "executable": sys.executable, "platform": sys.platform,
                              "ok": False, "checks": {}}
    checks: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("qt_platform_plugin", check_qt_platform),
        ("icons_and_style", check_icons_and_style),
        ("sqlite_wal", check_sqlite_wal),
        ("tls_trust_store", check_tls),
        ("keyring_backend", check_keyring),
    ]
    if sys.platform == "win32":
        checks.append(("app_user_model_id", check_app_user_model_id))
    for name, check in checks:
        report["checks"][name] = {"ok": False, "error": "did not finish"}
        _save(report, out)
        try:
            report["checks"][name] = check()
        except Exception as error:  # a check that breaks is a failed check, not a crash
            report["checks"][name] = {"ok": False, "error": f"{type(error).__name__}: {error}",
                                      "trace": traceback.format_exc(limit=4)}
    report["ok"] = all(c.get("ok") for c in report["checks"].values())
    _save(report, out)
    return report["ok"], report


def check_qt_platform() -> dict[str, Any]:
    from PySide6.QtCore import QLibraryInfo, qVersion

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    found = sorted(p.name for p in plugins.glob("*")) if plugins.is_dir() else []
    native = NATIVE_PLUGIN.get(sys.platform, "libqxcb.so")
    requested = os.environ.get("QT_QPA_PLATFORM", "")
    if sys.platform.startswith("linux") and not requested and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = requested = "offscreen"  # no desktop: test headless
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([APP_NAME])
    return {"ok": native in found and bool(app.platformName()), "qt": qVersion(),
            "plugins_dir": str(plugins), "native_plugin": native, "found": found,
            "started_with": app.platformName(), "requested": requested or None}


def check_icons_and_style() -> dict[str, Any]:
    from app.core.conditions import Condition
    from app.gui.assets import render_icon, style_sheet
    from app.gui.icons import state_icon

    style = style_sheet()
    image = render_icon(64)
    opaque = (not image.isNull()) and image.pixelColor(32, 32).alpha() > 0
    tray = state_icon(Condition.CURRENT).pixmap(32, 32)
    return {"ok": bool(style.strip()) and opaque and not tray.isNull(),
            "style_sheet_chars": len(style), "app_icon_drawn": opaque,
            "tray_icon_drawn": not tray.isNull()}


def check_sqlite_wal() -> dict[str, Any]:
    import sqlite3

    from app.adapters.store.db import Database

    with tempfile.TemporaryDirectory(prefix="booth-self-test-") as folder:
        db = Database(Path(folder) / "check.sqlite3")
        try:
            mode = str(db.query("PRAGMA journal_mode")[0][0])
            with db.transaction() as conn:
                conn.execute("CREATE TABLE t (v TEXT)")
                conn.execute("INSERT INTO t VALUES ('written')")
            other = sqlite3.connect(db.path)  # a second reader, as the CLI is to the tray
            try:
                seen = other.execute("SELECT v FROM t").fetchone()[0]
            finally:
                other.close()
            integrity = db.integrity_check()
        finally:
            db.close()
    return {"ok": mode == "wal" and seen == "written" and integrity == "ok",
            "journal_mode": mode, "sqlite_version": sqlite3.sqlite_version,
            "integrity_check": integrity}


def check_tls() -> dict[str, Any]:
    import ssl

    import certifi
    import httpx

    bundle = Path(certifi.where())
    context = httpx.create_ssl_context()  # what every HTTPS request of the app uses
    stats = context.cert_store_stats()
    return {"ok": bundle.is_file() and stats.get("x509_ca", 0) > 0
            and context.verify_mode == ssl.CERT_REQUIRED,
            "ca_bundle": str(bundle), "ca_certificates": stats.get("x509_ca", 0),
            "openssl": ssl.OPENSSL_VERSION}


def check_keyring() -> dict[str, Any]:
    import keyring
    import keyring.backend

    backend = keyring.get_keyring()
    try:
        usable = float(backend.priority) >= 1  # type: ignore[arg-type]
    except Exception:
        usable = False
    viable = sorted(type(b).__name__ for b in keyring.backend.get_all_keyring())
    if sys.platform in NATIVE_KEYRING:
        native = NATIVE_KEYRING[sys.platform]
        ok, note = native in viable and usable, f"{native} expected"
    else:
        # Linux: the Secret Service backend needs a D-Bus session; without one the app uses
        # its visible plain-text fallback. The bundle must still carry the backend's code.
        import keyring.backends.SecretService
        import secretstorage  # noqa: F401

        session = bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS"))
        ok = usable or not session
        note = ("Secret Service code present; " + ("keyring in use" if usable else
                "no D-Bus session here, so the plain-text fallback would be used"))
    return {"ok": ok, "backend": f"{type(backend).__module__}.{type(backend).__name__}",
            "usable": usable, "viable": viable, "note": note}


def check_app_user_model_id() -> dict[str, Any]:  # pragma: no cover - Windows only
    from app.adapters.system.windows_shell import (
        current_app_user_model_id,
        set_app_user_model_id,
    )

    set_app_user_model_id(APP_USER_MODEL_ID)
    now = current_app_user_model_id()
    return {"ok": now == APP_USER_MODEL_ID, "app_user_model_id": now}


def _save(report: dict[str, Any], out: Path | None) -> None:
    if out is None:
        return
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)
