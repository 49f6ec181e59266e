"""Draw the Windows and macOS icons (`resources/icons/recondesk.ico`, `.icns`) from the app's SVG with Qt's own
image writers, so the three platforms show one picture. Run after changing `recondesk.svg`:
`QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icons.py`; the results are committed (the spec uses
them when present)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QImageWriter, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"


def render(svg: Path, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    return image


def write(image: QImage, path: Path, fmt: str) -> None:
    writer = QImageWriter(str(path), fmt.encode())
    if not writer.write(image):
        raise SystemExit(f"could not write {path}: {writer.errorString()}")
    print(f"{path} ({path.stat().st_size} bytes)")


def png(image: QImage) -> bytes:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data().data())


def write_icns(svg: Path, path: Path) -> None:
    """An .icns of PNG entries (ic07-ic10: 128 to 1024 px), the layout `iconutil` writes for these sizes."""
    entries = b"".join(
        kind + struct.pack(">I", 8 + len(data)) + data
        for kind, size in ((b"ic07", 128), (b"ic08", 256), (b"ic09", 512), (b"ic10", 1024))
        for data in (png(render(svg, size)),)
    )
    path.write_bytes(b"icns" + struct.pack(">I", 8 + len(entries)) + entries)
    print(f"{path} ({path.stat().st_size} bytes)")


def main() -> None:
    QGuiApplication(sys.argv)
    svg = ICONS / "recondesk.svg"
    write(render(svg, 256), ICONS / "recondesk.ico", "ico")  # Windows scales the 256 px picture down
    write_icns(svg, ICONS / "recondesk.icns")


if __name__ == "__main__":
    main()
