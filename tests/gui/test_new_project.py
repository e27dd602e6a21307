from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QFileDialog

from ota_desktop.gui import main_window as main_window_module
from ota_desktop.gui.main_window import MainWindow, NewProjectDialog
from ota_desktop.store import Store

pytestmark = pytest.mark.gui


def test_new_project_creates_an_empty_project_and_shows_its_empty_matrix(
        qtbot, qasync_loop, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "fleet.db"
    monkeypatch.setattr(NewProjectDialog, "exec", lambda self: (
        self.name_edit.setText("Line 3 fleet"), self.scheme_combo.setCurrentText("semver"),
        QDialog.DialogCode.Accepted)[-1])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.matrixShown, timeout=20_000):
        window.ui.actionNew.trigger()
    project = Store.open(target).project()
    assert (project.name, project.slug, project.version_scheme) == (
        "Line 3 fleet", "line-3-fleet", "semver")
    assert window.ui.cohortCombo.currentData() == "default"
    assert window.matrix is not None and window.matrix.total == 0
    assert "Line 3 fleet" in window.windowTitle()
    window.close()


def test_new_project_dialog_refuses_an_empty_name(qtbot) -> None:
    dialog = NewProjectDialog()
    qtbot.addWidget(dialog)
    dialog.name_edit.setText("   ")
    from PySide6.QtWidgets import QDialogButtonBox

    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()
    qtbot.keyClicks(dialog.name_edit, "Fleet")
    assert ok.isEnabled()


def test_opening_a_file_from_a_newer_build_says_so(qtbot, qasync_loop, tmp_path, monkeypatch) -> None:
    import sqlite3

    from PySide6.QtWidgets import QMessageBox

    path = tmp_path / "future.db"
    Store.open(path).close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO _migrations VALUES (99, 'future', 'x')")
    con.commit()
    con.close()
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))
    monkeypatch.setattr(main_window_module.QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(path), ""))
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.controller.failed, timeout=10_000):
        window.ui.actionOpen.trigger()
    assert "newer version" in shown[0]
    assert window.matrix is None
