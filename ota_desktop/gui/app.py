"""Start the window on one qasync event loop: the last project, or the demo on first start."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import qasync
from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import QApplication

from ota_desktop import NAME, __version__
from ota_desktop.gui import first_paint
from ota_desktop.gui.fonts import FontInUse, ensure_font
from ota_desktop.gui.main_window import LAST_PROJECT_KEY, MainWindow


def demo_path() -> Path:
    """Where the first start writes the demo: ~/.local/share/ota-desktop/demo.db on Linux."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return (Path(base) if base else Path.home() / ".local" / "share") / "ota-desktop" / "demo.db"


def start(window: MainWindow, db: Path | None) -> None:
    """Open ``db``, else the last project, else the demo (writing it on first start)."""
    if db is None:
        last = window.settings.value(LAST_PROJECT_KEY)
        db = Path(str(last)) if last and Path(str(last)).exists() else None
    if db is not None:
        window.open_project(db)
        return
    demo = demo_path()
    if demo.exists():
        window.open_project(demo)
    else:
        window.controller.create_demo(demo)


def application() -> tuple[QApplication, FontInUse]:
    """The one QApplication, named and with a font that draws text (and which font that is)."""
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName(NAME)
    app.setOrganizationName(NAME)
    app.setApplicationVersion(__version__)
    return app, ensure_font()


def run(db: Path | None = None) -> int:
    app, _font = application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow(settings=QSettings())
    if first_paint.requested():
        first_paint.FirstPaintProbe(window.matrix_view, first_paint.print_and_close(window))
    window.show()
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    with loop:
        loop.call_soon(start, window, db)
        loop.run_until_complete(closed.wait())
    return 0


def main() -> int:
    from ota_desktop.cli import main as cli_main

    return cli_main(sys.argv[1:] or ["gui"])
