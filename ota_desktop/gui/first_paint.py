"""An opt-in probe for the cold-start benchmark (bench/startup_bench.py): with
``OTA_DESKTOP_EXIT_AFTER_FIRST_PAINT=1`` the window prints when the version matrix was first
painted with data, then closes."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QTableView, QWidget

ENV = "OTA_DESKTOP_EXIT_AFTER_FIRST_PAINT"
MARKER = "first-matrix-paint"


def requested() -> bool:
    return os.environ.get(ENV) == "1"


class FirstPaintProbe(QObject):
    """Calls back once, right after the grid's first paint that shows rows (not the empty grid
    painted before the project is open)."""

    def __init__(self, view: QTableView, callback: Callable[[], None]) -> None:
        super().__init__(view)
        self._view = view
        self._callback = callback
        self.fired = False
        view.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        model = self._view.model()
        if (not self.fired and event.type() == QEvent.Type.Paint
                and model is not None and model.rowCount() > 0):
            self.fired = True
            self._view.viewport().removeEventFilter(self)
            QTimer.singleShot(0, self._callback)  # runs once this paint has been drawn
        return False


def print_and_close(window: QWidget) -> Callable[[], None]:
    """The probe's callback in the app: one line with the wall-clock time, then close."""
    def done() -> None:
        if sys.stdout is not None:
            print(f"{MARKER} {time.time():.6f}", flush=True)
        window.close()
    return done
