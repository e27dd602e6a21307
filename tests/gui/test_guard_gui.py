"""The rollout guard in the window: set it while activating, the paused mark appears live as
devices report failures to the window's own device server, one click resumes, Ctrl+Z undoes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import Qt

from ota_desktop.gui.matrix_actions import MatrixAction
from ota_desktop.gui.matrix_model import FIXED_COLUMNS
from ota_desktop.model import ReleaseRef, RolloutGuard
from tests.server.conftest import free_port

from .conftest import save_screenshot

pytestmark = pytest.mark.gui
R11 = ReleaseRef("main", version="1.1")
R20 = ReleaseRef("main", version="2.0")
GW = {"Authorization": "GatewayToken demo-project-key"}
BASE = "/api/v0/hawkbit/default/controller/v1"


def header(window, version: str) -> tuple[int, str, str]:
    model = window.matrix_view.model()
    for c in range(FIXED_COLUMNS, model.columnCount() - 1):
        text = model.headerData(c, Qt.Orientation.Horizontal)
        if text.split()[0] == version:
            return c, text, model.headerData(c, Qt.Orientation.Horizontal,
                                             Qt.ItemDataRole.ToolTipRole)
    raise AssertionError(version)


def fail_over_ddi(url: str, serial: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        href = c.get(f"{BASE}/{serial}", headers=GW).json()["_links"]["deploymentBase"]["href"]
        action = c.get(href, headers=GW).json()["id"]
        assert c.post(f"{BASE}/{serial}/deploymentBase/{action}/feedback", headers=GW, json={
            "id": action, "status": {"execution": "closed",
                                     "result": {"finished": "failure"}}}).status_code == 200


def test_guard_from_the_dialog_pauses_live_and_one_click_resumes(main_window, small_demo: Path,
                                                                 qtbot, tmp_path) -> None:
    window = main_window(small_demo)
    # the guard is part of activating: set it in the activation dialog
    dialog = window.open_activation(MatrixAction("x", "activate", R11))
    dialog.cohort_combo.setCurrentIndex(dialog.cohort_combo.findData("beta"))
    dialog.failures_check.setChecked(True)
    dialog.failures_spin.setValue(4)
    qtbot.waitUntil(lambda: dialog.apply_button.isEnabled(), timeout=5000)
    assert "rollout guard: pause at 4 failures" in dialog.summary_label.text()
    save_screenshot(dialog, "activation-guard", tmp_path)
    dialog.accept()
    config = window.controller.config
    assert next(a.guard for a in config.activations_in("beta") if a.release == R11) == \
        RolloutGuard(failures=4)
    # ... and editable later, from the column's menu
    column = next(c for c in window.matrix.columns if c.version == "2.0")
    guard_action = next(a for a in window.menu_for_cell(
        window.matrix_view.model().index(0, FIXED_COLUMNS + window.matrix.columns.index(column)))
        if a.kind == "guard")
    dialog = window.open_activation(guard_action)
    dialog.failures_check.setChecked(True)
    dialog.failures_spin.setValue(3)
    qtbot.waitUntil(lambda: dialog.apply_button.isEnabled(), timeout=5000)
    with qtbot.waitSignal(window.matrixShown, timeout=20_000):
        dialog.accept()
    assert not window.paused_banner.isVisible()

    port = free_port()
    assert window.start_serving("127.0.0.1", port)
    for i in range(3):  # three 1.1 devices fail to install 2.0, through the DDI endpoint
        fail_over_ddi(f"http://127.0.0.1:{port}", f"DEF-11-{i:06d}")
    qtbot.waitUntil(lambda: window.paused_banner.isVisible(), timeout=20_000)
    _, text, tip = header(window, "2.0")
    assert text == "2.0 paused"
    assert "PAUSED" in tip and "paused by rollout guard: 3 failures ≥ 3" in tip
    assert window.matrix.row("1.1").cells["1.1"].count == 36  # nobody goes to 2.0 now
    assert "Resume" in [a.text.split()[0] for a in window.menu_for_cell(
        window.matrix_view.model().index(0, header(window, "2.0")[0]))]
    history = window.open_history()
    row = next(i for i, r in enumerate(history.rows) if r["release"] == "2.0"
               and r["cohort"] == "default")
    assert history.table.item(row, 6).text() == "paused"
    assert history.table.item(row, 10).text() == "paused by rollout guard: 3 failures ≥ 3"
    assert "3 of 3 reporting failed" in history.table.item(row, 9).text()
    history.close()
    save_screenshot(window, "rollout-guard-paused", tmp_path)

    with qtbot.waitSignal(window.matrixShown, timeout=20_000):
        qtbot.mouseClick(window.paused_banner.buttons[R20], Qt.MouseButton.LeftButton)
    assert not window.paused_banner.isVisible()
    assert header(window, "2.0")[1] == "2.0"
    assert window.matrix.row("1.1").cells["2.0"].count == 36
    with qtbot.waitSignal(window.matrixShown, timeout=20_000):
        window.undo_action.trigger()  # undo the resume: paused again
    assert window.paused_banner.isVisible() and header(window, "2.0")[1] == "2.0 paused"
    # the activation history resumes the selected paused row too
    history = window.open_history()
    row = next(i for i, r in enumerate(history.rows) if r["release"] == "2.0"
               and r["cohort"] == "default")
    assert not history.resume_button.isEnabled()
    history.table.selectRow(row)
    assert history.resume_button.isEnabled()
    with qtbot.waitSignal(window.matrixShown, timeout=20_000):
        history.resume_button.click()
    assert not window.paused_banner.isVisible()
    assert history.table.item(row, 6).text() == "active"
    history.close()
    window.stop_serving()
