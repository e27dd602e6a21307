"""Tools → Fleet Simulator: start, the counters and the matrix move live while the event loop
keeps ticking, speed changes while running, pause holds still, a guard pauses mid-run, stop."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QElapsedTimer, Qt, QTimer

from ota_desktop.model import ReleaseRef, RolloutGuard
from ota_desktop.service import ProjectService
from ota_desktop.store import Store

from .conftest import save_screenshot

pytestmark = pytest.mark.gui
R20 = ReleaseRef("main", version="2.0")


def totals(window) -> dict[str, int]:
    return {r.version: r.total for r in window.matrix.rows}


def test_the_simulator_moves_the_matrix_live_and_the_window_stays_responsive(
        main_window, small_demo: Path, qtbot, tmp_path) -> None:
    ProjectService(Store.open(small_demo)).set_guard(R20, "default", RolloutGuard(failures=8))
    window = main_window(small_demo)
    action = next(a for a in window.menu_tools.actions() if a.text() == "Fleet &Simulator…")
    action.trigger()
    dialog = window.dialogs[-1]
    assert dialog.windowTitle() == "Fleet Simulator"
    assert dialog.cohort_combo.currentData() == "default"
    assert dialog.devices_spin.value() == 927 and "of 927" in dialog.devices_label.text()
    dialog.create_spin.setValue(300)
    dialog.version_combo.setCurrentText("1.1")
    dialog.interval_spin.setValue(600)
    dialog.failure_spin.setValue(30.0)
    dialog.seed_spin.setValue(4)
    dialog.speed_slider.setValue(200)  # x100
    assert dialog.speed_label.text() == "×100"

    gaps: list[int] = []
    clock = QElapsedTimer()
    clock.start()
    timer = QTimer()
    timer.timeout.connect(lambda: gaps.append(clock.restart()))
    timer.start(10)
    shown: list[object] = []
    window.matrixShown.connect(shown.append)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.runner.state == "running", timeout=20_000)
    qtbot.waitUntil(lambda: sum(totals(window).values()) == 927 + 300,  # the new sim-0001…
                    timeout=20_000)
    dialog.speed_slider.setValue(300)  # x1000, while running
    assert dialog.runner.speed == 1000
    qtbot.waitUntil(lambda: bool(dialog.runner.counters.pauses), timeout=60_000)
    # the guard paused 2.0: the banner shows it, and the 0.9 devices go to 1.0 instead
    qtbot.waitUntil(lambda: window.paused_banner.isVisible(), timeout=20_000)
    qtbot.waitUntil(lambda: "0.9" not in totals(window), timeout=60_000)
    assert totals(window)["2.1"] > 738  # 2.0 devices took the Delta meanwhile
    timer.stop()
    assert len(gaps) > 50 and max(gaps[2:]) < 400, max(gaps)  # the loop kept ticking
    assert 0 < len(shown) < 60  # the matrix followed, a few times a second at most
    assert int(dialog.counter_labels["polls"].text().replace(",", "")) > 1000
    assert "Paused after" in dialog.pauses_label.text()
    assert "paused by rollout guard" in dialog.pauses_label.text()

    dialog.pause_button.click()
    assert dialog.runner.state == "paused" and dialog.start_button.text() == "&Resume"
    qtbot.wait(200)  # the step in flight (at most 100 ms of work) lands
    polls = dialog.runner.counters.polls
    qtbot.wait(300)
    assert dialog.runner.counters.polls == polls  # paused: nothing moves
    # (into docs/screenshots/simulator.png with OTA_SCREENSHOTS=1, like every screenshot)
    assert save_screenshot(dialog, "simulator", tmp_path).stat().st_size > 10_000
    save_screenshot(window, "simulator-matrix", tmp_path)
    dialog.start_button.click()
    assert dialog.runner.state == "running"
    dialog.stop_button.click()
    assert dialog.runner.state == "stopped" and dialog.start_button.isEnabled()
    assert dialog.create_spin.isEnabled()


def test_bad_settings_are_a_sentence_in_the_dialog(main_window, small_demo: Path, qtbot) -> None:
    window = main_window(small_demo)
    dialog = window.open_simulator()
    dialog.devices_spin.setValue(0)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.error_label.isVisible(), timeout=10_000)
    assert "no main devices" in dialog.error_label.text()
    assert dialog.runner.state == "stopped"


def test_opening_another_project_stops_and_closes_the_simulator(main_window, small_demo: Path,
                                                               qtbot, tmp_path) -> None:
    import shutil

    other = tmp_path / "other.db"
    shutil.copy(small_demo, other)
    window = main_window(small_demo)
    dialog = window.open_simulator()
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.runner.state == "running", timeout=10_000)
    with qtbot.waitSignal(window.matrixShown, timeout=30_000):
        window.open_project(other)
    qtbot.waitUntil(lambda: dialog.runner.state == "stopped", timeout=10_000)
    assert not dialog.isVisible()
