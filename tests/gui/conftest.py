from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from ota_desktop.gui.main_window import MainWindow

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def qasync_loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    """The app's one asyncio loop, integrated with Qt as in the real app."""
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    # its default executor (host-name lookups run there) is a QThread: stop it with the test
    executor = getattr(loop, "_QEventLoop__default_executor", None)
    if executor is not None:
        executor.shutdown()
        loop.set_default_executor(None)
    # qasync marks an "already running" loop as the running loop; unmark it so code after
    # the GUI tests (asyncio.run in other tests) starts from a clean state
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


@pytest.fixture
def main_window(qtbot, qasync_loop, tmp_path: Path) -> Callable[[Path], MainWindow]:
    """Open a window on a project and wait until its first matrix is on screen."""
    windows: list[MainWindow] = []

    def make(db: Path) -> MainWindow:
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        qtbot.addWidget(window)
        window.resize(1180, 520)
        window.show()
        with qtbot.waitSignal(window.matrixShown, timeout=60_000):
            window.open_project(db)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


def save_screenshot(widget, name: str, tmp_path: Path) -> Path:
    """Grab a widget; also into docs/screenshots when OTA_SCREENSHOTS=1 (for the README)."""
    import os

    QApplication.processEvents()  # let pending layout settle before the grab
    path = tmp_path / f"{name}.png"
    pixmap = widget.grab()
    assert pixmap.save(str(path))
    if os.environ.get("OTA_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        pixmap.save(str(SCREENSHOTS / f"{name}.png"))
    return path
