"""Editing in the window: editors, activation dialogs with what-if, undo/redo."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QMenu

from ota_desktop.gui.matrix_model import FIXED_COLUMNS

from .conftest import save_screenshot

pytestmark = pytest.mark.gui


def counts(window) -> dict[str, dict[str, int]]:
    m = window.matrix
    return {r.version: {c: cell.count for c, cell in r.cells.items()} for r in m.rows}


def wait_matrix(qtbot, window, fn) -> None:
    with qtbot.waitSignal(window.matrixShown, timeout=20_000):
        fn()


def drop_files(widget, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(event)


def column_index(window, version: str) -> int:
    model = window.matrix_view.model()
    for c in range(FIXED_COLUMNS, model.columnCount() - 1):
        if model.headerData(c, Qt.Orientation.Horizontal) == version:
            return c
    raise AssertionError(version)


def test_create_a_release_by_dropping_a_file_then_stage_it_undo_and_redo(
        main_window, small_demo: Path, qtbot, tmp_path: Path) -> None:
    window = main_window(small_demo)
    original = counts(window)
    editor = window.open_release_editor()
    qtbot.keyClicks(editor.version_edit, "2.3")
    qtbot.keyClicks(editor.revision_edit, "deadbeef")
    image = tmp_path / "main-2.3.swu"
    image.write_bytes(bytes(range(256)) * 40_000)  # 10 MB
    with qtbot.waitSignal(editor.payloadAdded, timeout=20_000):
        drop_files(editor, [image])
    assert editor.payload_table.item(0, 1).text() == "10,240,000"
    assert not editor.ok_button.isEnabled()  # the payload still needs a hardware version
    assert "needs a hardware version" in editor.error_label.text()
    editor.payload_table.item(0, 3).setText("evt")
    assert editor.ok_button.isEnabled()
    save_screenshot(editor, "release-editor", tmp_path)
    wait_matrix(qtbot, window, lambda: qtbot.mouseClick(editor.ok_button, Qt.MouseButton.LeftButton))
    release = window.controller.config.find_release(editor.change().ref)
    assert release.revision == "deadbeef" and release.payloads[0].size == 10_240_000
    assert counts(window) == original  # created, not active: nobody moves yet

    # activate it as a staged rollout from the column header's actions
    actions = window.menu_for_cell(window.matrix_view.model().index(0, column_index(window, "2.3")))
    activate = next(a for a in actions if a.kind == "activate")
    dialog = window.open_activation(activate)
    dialog.staged_radio.setChecked(True)
    dialog.percent_spin.setValue(40)
    qtbot.waitUntil(lambda: dialog.whatif is not None
                    and "40%" in dialog.whatif.description, timeout=5000)
    whatif = dialog.whatif
    assert whatif.devices_moved > 0
    assert dialog.preview_table.rowCount() == len(whatif.moves)
    save_screenshot(dialog, "activation-dialog", tmp_path)
    wait_matrix(qtbot, window, lambda: qtbot.mouseClick(dialog.apply_button,
                                                        Qt.MouseButton.LeftButton))
    after = counts(window)
    for move in whatif.moves:  # the preview equals the applied counts
        assert after[move.row].get(move.column, 0) == move.after
    staged_total = sum(n.get("2.3", 0) for n in after.values())
    store = window.controller.store
    cohort_id = store.cohort_id("default")
    assert store.db.execute("SELECT count(*) FROM devices WHERE staged = 1 AND cohort_id = ?",
                            [cohort_id]).fetchone()[0] == round(0.4 * 927)
    # staged devices on 2.0 keep taking the Delta 2.0→2.1 (a Delta comes first)
    staged_not_on_20 = store.db.execute(
        "SELECT count(*) FROM devices WHERE staged = 1 AND cohort_id = ? "
        "AND current_version != '2.0'", [cohort_id]).fetchone()[0]
    assert staged_total == whatif.devices_moved == staged_not_on_20

    wait_matrix(qtbot, window, window.undo_action.trigger)
    assert counts(window) == original
    wait_matrix(qtbot, window, window.redo_action.trigger)
    assert counts(window) == after  # same seed, same staged devices
    kinds = [o["kind"] for o in window.controller.store.operations(limit=3)]
    assert kinds[0] == "activation.create" and kinds[1] == "undo.activation.create"


def test_bad_input_in_the_release_editor_is_explained_inline(main_window, small_demo, qtbot) -> None:
    window = main_window(small_demo)
    editor = window.open_release_editor()
    assert "Version is required" in editor.version_error.text()
    qtbot.keyClicks(editor.version_edit, "2 .0")
    assert "cannot contain spaces" in editor.version_error.text()
    assert not editor.ok_button.isEnabled()
    editor.version_edit.setText("2.0")
    assert "already exists" in editor.version_error.text()
    editor.version_edit.setText("2.4")
    assert editor.version_error.text() == "" and editor.ok_button.isEnabled()
    delta = window.open_release_editor(from_version="2.1", delta=True)
    delta.version_edit.setText("2.0")
    assert "never downgrades" in delta.version_error.text()
    assert not delta.ok_button.isEnabled()
    delta.version_edit.setText("2.2")
    assert "already exists" in delta.version_error.text()
    delta.version_edit.setText("2.5")
    assert delta.ok_button.isEnabled()
    ops = len(window.controller.store.operations())
    delta.reject()
    editor.reject()
    assert len(window.controller.store.operations()) == ops  # nothing was written


def test_activation_dialog_refuses_an_already_active_release(main_window, small_demo, qtbot) -> None:
    from ota_desktop.gui.matrix_actions import MatrixAction
    from ota_desktop.model import ReleaseRef

    window = main_window(small_demo)
    dialog = window.open_activation(MatrixAction("x", "activate", ReleaseRef("main", version="2.0")))
    assert "already active" in dialog.error_label.text()
    assert not dialog.apply_button.isEnabled()
    dialog.cohort_combo.setCurrentIndex(dialog.cohort_combo.findData("beta"))
    qtbot.waitUntil(lambda: dialog.apply_button.isEnabled(), timeout=3000)
    assert "no device's next step changes" in dialog.summary_label.text()  # beta is on 2.1


def test_pull_from_the_row_menu_previews_and_undo_restores(main_window, small_demo, qtbot) -> None:
    window = main_window(small_demo)
    original = counts(window)
    row = [r.version for r in window.matrix.rows].index("2.0")
    actions = window.menu_for_cell(window.matrix_view.model().index(row, 1))
    pull = next(a for a in actions if a.kind == "pull" and a.ref.is_delta)
    assert pull.text == "Pull Delta 2.0→2.1…"
    dialog = window.open_activation(pull)
    assert dialog.whatif.devices_moved == 132
    wait_matrix(qtbot, window, dialog.accept)
    assert counts(window)["2.0"] == {"2.0": 132}
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    wait_matrix(qtbot, window, lambda: qtbot.keyClick(window.matrix_view, Qt.Key.Key_Z,
                                                      Qt.KeyboardModifier.ControlModifier))
    assert counts(window) == original


def test_keyboard_menu_key_opens_the_cell_menu(main_window, small_demo, qtbot) -> None:
    window = main_window(small_demo)
    view = window.matrix_view
    view.setFocus()
    view.setCurrentIndex(view.matrix_model.index_of("0.9", "2.0"))
    qtbot.keyClick(view, Qt.Key.Key_Menu)
    menu = window.last_menu
    assert isinstance(menu, QMenu)
    texts = [a.text() for a in menu.actions()]
    assert texts[0] == "List the 21 devices"
    assert "Pull Full release 2.0…" in texts and "Create Delta from 0.9…" in texts
    menu.close()
    QApplication.processEvents()


def test_history_lists_activations_and_follows_edits(main_window, small_demo, qtbot,
                                                     tmp_path) -> None:
    window = main_window(small_demo)
    history = window.open_history()
    assert history.table.rowCount() == 4
    assert history.table.item(3, 2).text() == "Δ 2.1→2.2"
    assert history.table.item(3, 5).text() == "11"
    from ota_desktop.changes import Pull
    from ota_desktop.model import ReleaseRef

    wait_matrix(qtbot, window, lambda: window.run_change(Pull(ReleaseRef("main", version="1.0"),
                                                              "default")))
    assert history.table.item(0, 6).text() == "pulled"
    save_screenshot(history, "activation-history", tmp_path)


def test_create_a_delta_in_the_editor_and_activate_it_from_its_row(main_window, small_demo,
                                                                   qtbot, tmp_path) -> None:
    window = main_window(small_demo)
    editor = window.open_release_editor(from_version="2.1", delta=True)
    assert editor.from_edit.text() == "2.1"
    qtbot.keyClicks(editor.version_edit, "2.3")
    patch = tmp_path / "2.1-2.3.delta"
    patch.write_bytes(b"\x01" * 3000)
    with qtbot.waitSignal(editor.payloadAdded, timeout=10_000):
        editor.add_files([patch])
    editor.payload_table.item(0, 3).setText("evt")
    editor.payload_table.item(0, 4).setText("region=eu")
    wait_matrix(qtbot, window, editor.accept)
    delta = window.controller.config.find_release(editor.change().ref)
    assert delta.payloads[0].attributes == {"hardware_version": "evt", "region": "eu"}
    row = [r.version for r in window.matrix.rows].index("2.1")
    actions = window.menu_for_cell(window.matrix_view.model().index(row, 1))
    activate = next(a for a in actions if a.kind == "activate" and a.ref.to_version == "2.3")
    dialog = window.open_activation(activate)
    # the payload requires region=eu, which no demo device reports
    assert dialog.whatif.devices_moved == 0
    dialog.reject()


def test_edit_a_release_and_delete_rules(main_window, small_demo, qtbot, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from ota_desktop.model import ReleaseRef

    window = main_window(small_demo)
    editor = window.open_release_editor(edit=ReleaseRef("main", version="1.1"))
    assert not editor.version_edit.isEnabled() and editor.payload_table.rowCount() == 1
    assert "Nothing changed" in editor.error_label.text() and not editor.ok_button.isEnabled()
    editor.mpt_check.setChecked(True)
    editor.notes_edit.setPlainText("now a must-pass-through")
    wait_matrix(qtbot, window, editor.accept)
    r11 = window.controller.config.find_release(ReleaseRef("main", version="1.1"))
    assert r11.must_pass_through and r11.notes == "now a must-pass-through"

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))
    ops = len(window.controller.store.operations(limit=10**6))
    assert not window.delete_release(ReleaseRef("main", version="2.0"), confirm=False)
    assert "still active in cohort default" in shown[-1]
    assert len(window.controller.store.operations(limit=10**6)) == ops
    wait_matrix(qtbot, window, lambda: window.delete_release(ReleaseRef("main", version="1.1"),
                                                             confirm=False))
    assert window.controller.config.find_release(ReleaseRef("main", version="1.1")) is None
    wait_matrix(qtbot, window, window.undo_action.trigger)
    assert window.controller.config.find_release(ReleaseRef("main", version="1.1")) is not None


def test_header_right_click_offers_the_column_and_row_actions(main_window, small_demo,
                                                              qtbot) -> None:
    window = main_window(small_demo)
    view = window.matrix_view
    header = view.horizontalHeader()
    section = column_index(window, "2.2")
    pos = header.rect().topLeft()
    pos.setX(header.sectionViewportPosition(section) + 5)
    pos.setY(5)
    header.customContextMenuRequested.emit(pos)
    texts = [a.text() for a in window.last_menu.actions()]
    assert texts == ["Create Full release 2.2…"]
    window.last_menu.close()
    rows = view.verticalHeader()
    row = [r.version for r in window.matrix.rows].index("2.0")
    rows.customContextMenuRequested.emit(rows.rect().topLeft() + QPointF(5, rows.sectionViewportPosition(row) + 5).toPoint())
    texts = [a.text() for a in window.last_menu.actions()]
    assert texts[:2] == ["Create Delta from 2.0…", "Pull Delta 2.0→2.1…"]
    window.last_menu.close()


def test_hashing_a_large_payload_keeps_the_window_responsive(main_window, small_demo, qtbot,
                                                             tmp_path) -> None:
    from PySide6.QtCore import QTimer

    window = main_window(small_demo)
    editor = window.open_release_editor(version="9.0")
    big = tmp_path / "big.img"
    with open(big, "wb") as fh:  # sparse: 300 MB on no disk
        fh.truncate(300 * 1024 * 1024)
    ticks, values = [], []
    timer = QTimer()
    timer.timeout.connect(lambda: (ticks.append(1), values.append(editor.progress_bar.value())))
    timer.start(20)
    with qtbot.waitSignal(editor.payloadAdded, timeout=60_000) as blocker:
        editor.add_files([big])
    timer.stop()
    assert blocker.args[0].size == 300 * 1024 * 1024
    assert len(ticks) > 5  # the event loop kept running while hashing
    assert len({v for v in values if 0 < v < 1000}) >= 2  # and the bar moved
