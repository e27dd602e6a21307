"""Icons from the compiled resources."""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon

from ota_desktop.gui.forms import resources_rc  # noqa: F401  (registers :/icons/…)


@cache
def icon(name: str) -> QIcon:
    return QIcon(f":/icons/{name}.svg")
