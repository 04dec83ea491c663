"""The files in resources/ (style sheet, app icon), wherever the app runs from.

Installed, resources/ is the package app.resources; run from a source checkout (where the
checkout's app/ shadows the installed mapping) it is the folder beside app/; in the frozen
build it is `resources/` beside the bundled `app/` (installer/pyinstaller/booth.spec puts it
there). The icon is drawn with QtSvg's renderer rather than an image plugin, so the one thing a
frozen build must keep is the QtSvg library, which the self-test checks.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

ICON_FILE = "app-icon.svg"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


def resource_bytes(name: str) -> bytes:
    """The named file from resources/; FileNotFoundError when no copy of it is found."""
    try:
        return (resources.files("app.resources") / name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        beside = Path(__file__).resolve().parents[2] / "resources" / name
        return beside.read_bytes()


def style_sheet() -> str:
    try:
        return resource_bytes("style.qss").decode("utf-8")
    except FileNotFoundError:
        return ""


def render_icon(size: int) -> QImage:
    """The app icon at `size` x `size` pixels; a null image when the SVG cannot be read."""
    try:
        renderer = QSvgRenderer(QByteArray(resource_bytes(ICON_FILE)))
    except FileNotFoundError:
        return QImage()
    if not renderer.isValid():
        return QImage()
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


@lru_cache(maxsize=1)
def app_icon() -> QIcon:
    """For windows, dialogs and the About box (the tray icon shows the state instead)."""
    icon = QIcon()
    for size in ICON_SIZES:
        image = render_icon(size)
        if not image.isNull():
            icon.addPixmap(QPixmap.fromImage(image))
    return icon
