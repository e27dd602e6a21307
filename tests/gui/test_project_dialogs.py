"""Cohorts, device moves, project keys and update paths in the window."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt

from ota_desktop.gui.cohorts_dialog import DISTRIBUTION_ROLE
from ota_desktop.gui.matrix_model import CELL_ROLE

from .conftest import save_screenshot

pytestmark = pytest.mark.gui


def wait_changed(qtbot, window, fn) -> None:
    with qtbot.waitSignal(window.matrixShown, timeout=20_000):
        fn()


def test_cohorts_list_distribution_and_create_edit_with_undo(main_window, small_demo, qtbot,
                                                             tmp_path) -> None:
    window = main_window(small_demo)
    dialog = window.open_cohorts()
    assert dialog.table.rowCount() == 2
    assert dialog.table.item(0, 0).text() == "Default (default) — default"
    assert dialog.table.item(0, 1).text() == "927"
    assert dialog.table.item(0, 2).text() == "1.0, 2.0, Δ 2.0→2.1"
    assert dialog.table.item(1, 2).text() == "Δ 2.1→2.2 (11%)"
    assert dialog.table.item(0, 3).data(DISTRIBUTION_ROLE)[0] == ("2.1", 738)
    save_screenshot(dialog, "cohorts", tmp_path)

    editor = dialog.open_editor(None)
    assert not editor.ok_button.isEnabled()
    qtbot.keyClicks(editor.slug_edit, "Bad Slug")
    assert "lowercase" in editor.error_label.text()
    editor.slug_edit.setText("beta")
    assert "already exists" in editor.error_label.text()
    editor.slug_edit.setText("rollback")
    editor.name_edit.setText("Rollback")
    editor.dvc_check.setChecked(True)
    assert editor.ok_button.isEnabled()
    save_screenshot(editor, "cohort-editor", tmp_path)
    wait_changed(qtbot, window, editor.accept)
    assert dialog.table.rowCount() == 3
    cohort = window.controller.config.cohort("rollback")
    assert cohort is not None and cohort.disable_version_checking and cohort.protected
    assert window.ui.cohortCombo.findData("rollback") >= 0
    wait_changed(qtbot, window, window.undo_action.trigger)
    assert window.controller.config.cohort("rollback") is None
    assert dialog.table.rowCount() == 2


def test_move_pasted_serials_counts_unknown_and_moves_the_rest(main_window, small_demo, qtbot,
                                                               tmp_path) -> None:
    window = main_window(small_demo)
    cohorts = window.open_cohorts()
    cohorts.table.selectRow(1)
    mover = cohorts.open_move(cohorts.selected())
    mover.serials_edit.setPlainText("DEF-21-000001\nDEF-21-000002\nNOT-A-DEVICE\n\nDEF-21-000001")
    assert mover.count_label.text().startswith("3 serial(s): 2 to move, 1 unknown (NOT-A-DEVICE)")
    csv = tmp_path / "list.csv"
    csv.write_text("serial,site\nDEF-09-000003,berlin\nGHOST,x\n")
    mover.load(csv)
    assert "1 to move, 1 unknown" in mover.count_label.text()
    save_screenshot(mover, "move-devices", tmp_path)
    wait_changed(qtbot, window, mover.accept)
    assert window.controller.store.device("DEF-09-000003").cohort == "beta"
    assert {r.version: r.total for r in window.matrix.rows}["0.9"] == 20


def test_move_the_selection_of_a_device_list(main_window, small_demo, qtbot) -> None:
    window = main_window(small_demo)
    cell = window.matrix_view.matrix_model.index_of("1.1", "2.0").data(CELL_ROLE)
    listing = window.open_cell(cell)
    selection = listing.view.selectionModel()
    for row in (0, 1, 2):
        selection.select(listing.model.index(row, 0), QItemSelectionModel.SelectionFlag.Select
                         | QItemSelectionModel.SelectionFlag.Rows)
    qtbot.mouseClick(listing.move_button, Qt.MouseButton.LeftButton)
    mover = window.dialogs[-1]
    assert mover.serials() == ["DEF-11-000000", "DEF-11-000001", "DEF-11-000002"]
    mover.cohort_combo.setCurrentIndex(mover.cohort_combo.findData("beta"))
    wait_changed(qtbot, window, mover.accept)
    assert {r.version: r.total for r in window.matrix.rows}["1.1"] == 33


def test_project_keys_create_and_override(main_window, small_demo, qtbot, tmp_path) -> None:
    window = main_window(small_demo)
    keys = window.open_keys()
    assert keys.table.rowCount() == 2
    assert keys.table.item(1, 1).text() == "default"
    keys.override_combo.setCurrentIndex(keys.override_combo.findData("beta"))
    wait_changed(qtbot, window, keys.create_key)
    assert keys.table.rowCount() == 3 and keys.table.item(2, 1).text() == "beta"
    new_key = keys.table.item(2, 0).text()
    assert window.controller.config.project_key(new_key).cohort_override == "beta"
    keys.table.selectRow(0)
    keys.override_combo.setCurrentIndex(keys.override_combo.findData(None))
    keys.override_combo.setCurrentIndex(keys.override_combo.findData("beta"))
    wait_changed(qtbot, window, keys.set_override)
    assert keys.table.item(0, 1).text() == "beta"
    save_screenshot(keys, "project-keys", tmp_path)
    wait_changed(qtbot, window, window.undo_action.trigger)
    assert keys.table.item(0, 1).text() == "(no override)"


def test_update_paths_and_delta_planner(main_window, small_demo, qtbot, tmp_path) -> None:
    window = main_window(small_demo)
    dialog = window.open_paths()
    paths = [dialog.paths_table.item(r, 2).text() for r in range(dialog.paths_table.rowCount())]
    assert paths == ["0.9 → 2.0 → 2.1 Δ", "1.1 → 2.0 → 2.1 Δ", "2.0 → 2.1 Δ", "2.1"]
    assert dialog.planner_table.item(0, 0).text() == "2.1"  # most devices first
    assert dialog.planner_table.item(0, 5).text() == "at target"
    assert dialog.planner_table.item(1, 5).text() == "has a Delta"  # 2.0 → 2.1 exists
    save_screenshot(dialog, "update-paths", tmp_path)
    dialog.tabs.setCurrentIndex(1)
    save_screenshot(dialog, "delta-planner", tmp_path)
