"""The opt-in first-paint hook behind bench/startup_bench.py (OTA_DESKTOP_EXIT_AFTER_FIRST_PAINT)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from ota_desktop.gui import first_paint
from ota_desktop.gui.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_probe_fires_once_after_the_first_paint_with_rows(
        qtbot, qasync_loop, small_demo: Path, tmp_path: Path) -> None:
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    seen: list[int] = []
    probe = first_paint.FirstPaintProbe(
        window.matrix_view, lambda: seen.append(window.matrix_view.model().rowCount()))
    window.show()
    qtbot.waitExposed(window)
    window.matrix_view.viewport().repaint()  # the empty grid is painted: not the first paint
    qtbot.wait(50)
    assert seen == [] and not probe.fired
    window.open_project(small_demo)
    qtbot.waitUntil(lambda: seen != [], timeout=30_000)
    assert window.matrix is not None and window.matrix.total == 927  # default cohort at 1/1000
    assert seen == [len(window.matrix.rows)]
    window.matrix_view.viewport().repaint()
    qtbot.wait(50)
    assert len(seen) == 1  # once only
    window.close()


def test_window_prints_the_marker_and_exits_with_the_env_var(small_demo: Path,
                                                             tmp_path: Path) -> None:
    env = {**os.environ, first_paint.ENV: "1", "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    before = time.time()
    done = subprocess.run([sys.executable, "-m", "ota_desktop", "gui", "--db", str(small_demo)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith(first_paint.MARKER)]
    assert len(lines) == 1
    assert before < float(lines[0].split()[1]) < time.time()
