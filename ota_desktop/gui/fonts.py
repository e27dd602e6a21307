"""A font the window can always draw with.

A bare system (a minimal container, a fresh server install) may have no font that fontconfig
can find; Qt then draws every character as an empty box. The shipped DejaVu Sans
(resources/fonts, next to the package in a source tree and in the one-folder build) is always
registered, so glyphs the system's fonts lack (→ ✓ Δ) have a fallback, and it becomes the
application font when the default font has no glyphs at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtGui import QFont, QFontDatabase, QFontInfo, QFontMetrics, QGuiApplication

FONT_FILE = Path(__file__).resolve().parents[2] / "resources" / "fonts" / "DejaVuSans.ttf"
#: text every screen shows; a font without these glyphs draws boxes
SAMPLE = "0Aa"


@dataclass(frozen=True)
class FontInUse:
    family: str
    #: the shipped font is the application font because the system's draws no text
    shipped: bool
    draws_text: bool


def ensure_font() -> FontInUse:
    """Register the shipped font and use it when the system's draws nothing; after QApplication."""
    system_draws = _draws_text(QGuiApplication.font())
    font_id = QFontDatabase.addApplicationFont(str(FONT_FILE)) if FONT_FILE.is_file() else -1
    shipped = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
    if shipped and not system_draws:
        QGuiApplication.setFont(QFont(shipped[0]))
    font = QGuiApplication.font()
    return FontInUse(QFontInfo(font).family(), bool(shipped) and not system_draws,
                     _draws_text(font))


def _draws_text(font: QFont) -> bool:
    metrics = QFontMetrics(font)
    return all(metrics.inFont(c) for c in SAMPLE)
