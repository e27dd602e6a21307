from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer

import ota_desktop.gui.controller as controller_module
from ota_desktop.gui import app
from ota_desktop.gui.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_first_start_writes_the_demo_with_progress_and_stays_responsive(
        qtbot, qasync_loop, tmp_path: Path, monkeypatch) -> None:
    real = controller_module.write_demo
    monkeypatch.setattr(controller_module, "write_demo",
                        lambda store, progress=None: real(store, scale=0.05, progress=progress))
    monkeypatch.setattr(app, "demo_path", lambda: tmp_path / "data" / "demo.db")
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.show()
    progress: list[tuple[int, int]] = []
    window.controller.progress.connect(lambda _m, done, total: progress.append((done, total)))
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    with qtbot.waitSignal(window.matrixShown, timeout=60_000):
        app.start(window, None)
    timer.stop()
    assert (tmp_path / "data" / "demo.db").exists()
    assert window.matrix is not None and window.matrix.total == 46_350  # 5% of 927K
    assert any(total == 49_050 and done == 49_050 for done, total in progress)
    assert len(ticks) > 3  # the event loop kept running while the demo was written
    assert settings.value("project/last") == str(tmp_path / "data" / "demo.db")
    window.close()


def test_start_reopens_the_last_project(qtbot, qasync_loop, small_demo: Path, tmp_path) -> None:
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("project/last", str(small_demo))
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.matrixShown, timeout=30_000):
        app.start(window, None)
    assert window.controller.path == small_demo
    window.close()
