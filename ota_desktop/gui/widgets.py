"""Small widgets every dialog shares."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget


def error_label(parent: QWidget, name: str = "errorLabel", bold: bool = True) -> QLabel:
    """The inline message a dialog shows for bad input (palette colour, so dark mode works)."""
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(link);" + (" font-weight: bold;" if bold else ""))
    return label
