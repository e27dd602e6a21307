"""Regressions from trying to break the editors (bad input, stale previews, outside edits)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

from ota_desktop.changes import Activate, MoveDevices, Pull, SetRollout, UpdateCohort
from ota_desktop.gui.matrix_actions import MatrixAction
from ota_desktop.model import ReleaseRef

pytestmark = pytest.mark.gui
R10 = ReleaseRef("main", version="1.0")
R11 = ReleaseRef("main", version="1.1")
D21_22 = ReleaseRef("main", from_version="2.1", to_version="2.2")


@pytest.fixture
def messages(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))
    return shown


def ops(window) -> int:
    return len(window.controller.store.operations(limit=10**6))


def test_a_payload_that_cannot_be_added_says_why(main_window, small_demo, qtbot, tmp_path) -> None:
    window = main_window(small_demo)
    editor = window.open_release_editor(version="2.5")
    task = editor.add_files([tmp_path / "missing.swu"])
    qtbot.waitUntil(task.done, timeout=5000)
    assert "Could not add missing.swu" in editor.error_label.text()
    empty = tmp_path / "empty.swu"
    empty.write_bytes(b"")
    task = editor.add_files([empty])
    qtbot.waitUntil(task.done, timeout=5000)
    assert "the file is empty" in editor.error_label.text()
    image = tmp_path / "a.swu"
    image.write_bytes(b"x" * 1000)
    for _ in range(2):
        task = editor.add_files([image])
        qtbot.waitUntil(task.done, timeout=5000)
    assert editor.payload_table.rowCount() == 1
    assert "already in the list" in editor.error_label.text()


def test_other_attributes_cannot_override_the_hardware_version(main_window, small_demo, qtbot,
                                                               tmp_path) -> None:
    window = main_window(small_demo)
    editor = window.open_release_editor(version="2.5")
    image = tmp_path / "a.swu"
    image.write_bytes(b"y" * 100)
    with qtbot.waitSignal(editor.payloadAdded, timeout=5000):
        editor.add_files([image])
    editor.payload_table.item(0, 3).setText("evt")
    for bad, why in (("hardware_version=pvt", "own column"), ("a=1, a=2", "given twice")):
        editor.payload_table.item(0, 4).setText(bad)
        assert why in editor.error_label.text() and not editor.ok_button.isEnabled()
    editor.payload_table.item(0, 4).setText("region=eu")
    assert editor.ok_button.isEnabled()


def test_enter_right_after_changing_the_percentage_shows_the_new_what_if_first(
        main_window, small_demo, qtbot) -> None:
    window = main_window(small_demo)
    dialog = window.open_activation(MatrixAction("x", "activate", R11))
    dialog.cohort_combo.setCurrentIndex(dialog.cohort_combo.findData("beta"))
    qtbot.waitUntil(lambda: dialog.apply_button.isEnabled(), timeout=3000)
    dialog.staged_radio.setChecked(True)
    dialog.percent_spin.setValue(90)
    assert not dialog.apply_button.isEnabled()  # stale what-if: cannot apply yet
    before = ops(window)
    dialog.accept()  # Enter: refreshes the preview instead of applying
    assert dialog.isVisible() and "90%" in dialog.whatif.description
    assert ops(window) == before
    with qtbot.waitSignal(window.matrixShown, timeout=10_000):
        dialog.accept()
    assert window.controller.config.activations[-1].rollout_percent == 90


def test_undo_after_an_outside_change_is_refused_and_stays_undoable(
        main_window, small_demo, qtbot, messages) -> None:
    window = main_window(small_demo)
    with qtbot.waitSignal(window.matrixShown, timeout=10_000):
        window.run_change(Pull(R10, "default"))
    window.controller.apply(Activate(R10, "default"))  # e.g. the CLI, outside this stack
    before = ops(window)
    window.undo_action.trigger()
    qtbot.waitUntil(lambda: window.undo_stack.index() == 1, timeout=3000)
    assert "changed again since" in messages[-1]
    assert ops(window) == before
    active = [a for a in window.controller.config.activations
              if a.release == R10 and a.cohort == "default" and a.status == "active"]
    assert len(active) == 1
    # revert the outside activation first; then the pull can be undone from the stack
    outside = next(o["id"] for o in window.controller.store.operations(limit=10)
                   if o["kind"] == "activation.create")
    window.controller.revert([outside])
    with qtbot.waitSignal(window.matrixShown, timeout=10_000):
        window.undo_action.trigger()
    assert window.undo_stack.index() == 0


def test_staged_undo_never_marks_a_device_that_moved_to_another_cohort(
        main_window, small_demo, qtbot) -> None:
    window = main_window(small_demo)
    store = window.controller.store
    with qtbot.waitSignal(window.matrixShown, timeout=10_000):
        window.run_change(Activate(ReleaseRef("main", version="2.0"), "beta", kind="staged",
                                   rollout_percent=2, seed=9))
    unmarked = store.operations(limit=1)[0]["after"]["staging"]["unmarked_ids"]
    serial = store.db.execute("SELECT serial FROM devices WHERE id = ?", [unmarked[0]]).fetchone()[0]
    window.controller.apply(MoveDevices((serial,), "default"))
    with qtbot.waitSignal(window.matrixShown, timeout=10_000):
        window.undo_action.trigger()
    moved = store.device(serial)
    assert moved.cohort == "default" and not moved.staged
    assert store.db.execute("SELECT count(*) FROM devices WHERE staged = 1 AND cohort_id = ?",
                            [store.cohort_id("default")]).fetchone()[0] == 0


def test_rollout_undo_after_an_outside_rollout_is_refused(main_window, small_demo, qtbot,
                                                          messages) -> None:
    window = main_window(small_demo)
    with qtbot.waitSignal(window.matrixShown, timeout=10_000):
        window.run_change(SetRollout(D21_22, "beta", 50, seed=1))
    window.controller.apply(SetRollout(D21_22, "beta", 80, seed=2))
    window.undo_action.trigger()
    qtbot.waitUntil(lambda: bool(messages), timeout=3000)
    assert "changed again since" in messages[-1]
    store = window.controller.store
    staged = store.db.execute("SELECT count(*) FROM devices WHERE staged = 1").fetchone()[0]
    assert staged == round(0.8 * 54)


def test_no_op_edits_record_nothing_and_add_no_undo_step(main_window, small_demo, qtbot) -> None:
    window = main_window(small_demo)
    before = ops(window)
    assert window.run_change(UpdateCohort("beta", name="Beta testers", protected=False))
    assert window.run_change(MoveDevices(("BET-21-000001",), "beta"))
    assert ops(window) == before and window.undo_stack.count() == 0
    assert "nothing changed" in window.ui.statusBar.currentMessage()
    cohorts = window.open_cohorts()
    mover = cohorts.open_move(window.controller.config.cohort("beta"))
    mover.serials_edit.setPlainText('BET-21-000001\n" DEF-21-000002 "\n')
    assert mover.count_label.text().startswith("2 serial(s): 1 to move, 1 already in beta")
    assert mover.buttons.button(mover.buttons.StandardButton.Ok).isEnabled()
    mover.serials_edit.setPlainText("BET-21-000001")
    assert not mover.buttons.button(mover.buttons.StandardButton.Ok).isEnabled()
