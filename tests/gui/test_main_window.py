from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from ota_desktop.gui.device_list import DEVICE_ROLE
from ota_desktop.gui.matrix_model import CELL_ROLE, COLUMN_ROLE, FIXED_COLUMNS

from .conftest import save_screenshot

pytestmark = pytest.mark.gui


def _grid(window) -> dict[tuple[str, str], str]:
    model = window.matrix_view.model()
    out = {}
    for r in range(model.rowCount()):
        row = model.headerData(r, Qt.Orientation.Vertical)
        for c in range(FIXED_COLUMNS, model.columnCount() - 1):
            text = model.index(r, c).data()
            if text:
                out[(row, model.headerData(c, Qt.Orientation.Horizontal))] = text
    return out


def test_demo_grid_shows_the_seed_figures(main_window, demo_db: Path, tmp_path: Path) -> None:
    window = main_window(demo_db)
    assert _grid(window) == {("0.9", "2.0"): "21K", ("1.1", "2.0"): "36K",
                             ("2.0", "2.1"): "132K", ("2.1", "2.1"): "738K"}
    model = window.matrix_view.model()
    index = window.matrix_view.matrix_model.index_of("0.9", "2.0")
    assert "21,000 devices on 0.9 go to 2.0" in index.data(Qt.ItemDataRole.ToolTipRole)
    columns = {model.headerData(c, Qt.Orientation.Horizontal):
               model.headerData(c, Qt.Orientation.Horizontal, COLUMN_ROLE)
               for c in range(FIXED_COLUMNS, model.columnCount() - 1)}
    assert [v for v, col in columns.items() if col.active] == ["1.0", "2.0"]
    assert columns["2.2"].release is None and columns["2.1"].final_target
    assert "no Full release" in model.headerData(
        list(columns).index("2.2") + FIXED_COLUMNS, Qt.Orientation.Horizontal,
        Qt.ItemDataRole.ToolTipRole)
    row_20 = [model.headerData(r, Qt.Orientation.Vertical) for r in range(model.rowCount())].index("2.0")
    assert model.index(row_20, 1).data() == "→ 2.1"
    assert window.ui.summaryLabel.text().startswith("927K devices")
    shot = save_screenshot(window, "main-window-default", tmp_path)
    assert shot.stat().st_size > 10_000


def test_beta_cohort_shows_the_staged_rollout(main_window, demo_db: Path, qtbot, tmp_path) -> None:
    window = main_window(demo_db)
    with qtbot.waitSignal(window.matrixShown, timeout=30_000):
        window.ui.cohortCombo.setCurrentIndex(window.ui.cohortCombo.findData("beta"))
    assert _grid(window) == {("2.1", "2.1"): "48K", ("2.1", "2.2"): "5.9K of 54K"}
    index = window.matrix_view.matrix_model.index_of("2.1", "2.2")
    tooltip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert "11% configured" in tooltip and "5,940 of 54,000" in tooltip
    save_screenshot(window, "main-window-beta", tmp_path)


def test_clicking_a_count_lists_exactly_those_devices(main_window, demo_db: Path, qtbot,
                                                      tmp_path) -> None:
    window = main_window(demo_db)
    view = window.matrix_view
    index = view.matrix_model.index_of("2.1", "2.1")
    view.scrollTo(index)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.visualRect(index).center())
    qtbot.waitUntil(lambda: len(window.dialogs) == 1)
    dialog = window.dialogs[0]
    assert dialog.model.rowCount() == 738_000
    # only the pages on screen were read, not 738K rows
    assert dialog.model.pages_fetched <= 2
    dialog.view.scrollToBottom()
    qtbot.wait(50)
    last = dialog.model.index(737_999, 0).data(DEVICE_ROLE)
    assert last.current_version == "2.1" and last.cohort == "default"
    assert dialog.model.pages_fetched <= 5
    save_screenshot(dialog, "device-list", tmp_path)


def test_keyboard_enter_on_a_cell_opens_its_devices(main_window, demo_db: Path, qtbot) -> None:
    window = main_window(demo_db)
    view = window.matrix_view
    view.setFocus()
    view.setCurrentIndex(view.matrix_model.index_of("0.9", "2.0"))
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(window.dialogs) == 1)
    assert window.dialogs[0].model.rowCount() == 21_000


def test_double_click_a_device_and_inspect_shows_the_trace(main_window, demo_db: Path, qtbot,
                                                           tmp_path) -> None:
    window = main_window(demo_db)
    cell = window.matrix_view.matrix_model.index_of("2.0", "2.1").data(CELL_ROLE)
    listing = window.open_cell(cell)
    first = listing.model.index(0, 0)
    qtbot.waitExposed(listing)
    pos = listing.view.visualRect(first).center()
    # a real double-click follows a first click (Qt's item views need both)
    qtbot.mouseClick(listing.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(listing.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: len(window.dialogs) == 2)
    details = window.dialogs[1]
    assert details.device.current_version == "2.0"
    assert details.attributes_table.item(0, 1).text() == "evt"
    assert details.history_table.rowCount() == 1
    details.show_inspect()
    assert "Update to 2.1" in details.verdict_label.text()
    rows = {details.trace_table.item(r, 1).text(): (details.trace_table.item(r, 0).text(),
                                                    details.trace_table.item(r, 2).text())
            for r in range(details.trace_table.rowCount())}
    assert rows["Delta 2.0→2.1"][0] == "taken"
    assert rows["Full 2.0"] == ("skipped", "a Delta from the current version takes precedence")
    save_screenshot(details, "device-inspect", tmp_path)


def test_matrix_model_passes_the_model_tester(main_window, small_demo: Path, qtmodeltester) -> None:
    window = main_window(small_demo)
    qtmodeltester.check(window.matrix_view.matrix_model)


def test_missing_project_shows_a_sentence_not_a_traceback(qtbot, qasync_loop, tmp_path,
                                                          monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from ota_desktop.gui.main_window import MainWindow

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))
    window = MainWindow()
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.controller.failed, timeout=10_000):
        window.open_project(tmp_path / "missing.db")
    assert shown and "There is no project file" in shown[0]
