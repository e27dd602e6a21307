"""Sync from the window: connect, the status indicator through pending / synced / conflict /
offline, the conflict dialog with both versions, and the user's choice reaching the server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPlainTextEdit

from ota_desktop.changes import EditRelease
from ota_desktop.model import ReleaseRef
from ota_desktop.service import ProjectService
from ota_desktop.store import Store
from ota_desktop.sync import mirror
from ota_desktop.sync.client import SyncClient
from tests.server.conftest import free_port, start_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.gui
R30 = ReleaseRef("main", version="3.0")


def notes(path: Path) -> str:
    return next(r.notes for r in Store.open(path).configuration().releases if r.version == "3.0")


def sync_outside(path: Path) -> None:
    """Another desktop's sync, run on its own loop in a thread (the window owns this one)."""
    import threading

    def run() -> None:
        client = SyncClient(path)
        try:
            asyncio.run(client.sync())
        finally:
            client.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)


@pytest.fixture
def server_and_token(start_server, small_demo: Path):  # noqa: F811
    service = ProjectService(Store.open(small_demo))
    service.create_release("main", "3.0", notes="original")
    token = service.create_token("desktops", permit_protected=True)
    port = free_port()
    return start_server(small_demo, port=port), token, small_demo


def test_connect_edit_sync_conflict_and_keep_mine(main_window, server_and_token, qtbot,
                                                  tmp_path) -> None:
    from .conftest import save_screenshot

    server, token, db = server_and_token
    local = tmp_path / "desk.db"
    service = ProjectService(Store.open(local))
    service.create_project("desk", "My desk")
    service.add_software_type("main")
    service.create_cohort("default", "Default", is_default=True)
    window = main_window(local)
    assert window.sync_button.text() == "● Local only"

    dialog = window.open_connect()
    dialog.url_edit.setText(server.url)
    dialog.token_edit.setText("not-a-token")
    dialog.connect_button.click()
    assert "oat_" in dialog.error.text() and dialog.isVisible()  # refused inline, kept
    dialog.token_edit.setText(token)
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: window.sync_button.text() == "● Synced", timeout=30_000)
    qtbot.waitUntil(lambda: window.ui.cohortCombo.findData("beta") >= 0, timeout=10_000)
    assert Store.open(local).device_count() == 981  # the server's fleet, paged in

    # an edit in the window waits as "Pending 1" until the next sync
    window.sync.timer.stop()
    assert window.run_change(EditRelease(R30, notes="from the window"))
    assert window.sync_button.text() == "● Pending 1"
    # meanwhile another desktop edits the same release and syncs first
    other = tmp_path / "other.db"
    mirror.connect(Store.open(other), server.url, "local", "local", token)
    sync_outside(other)
    mirror.apply_local(Store.open(other), EditRelease(R30, notes="from the other desktop"))
    sync_outside(other)
    assert notes(db) == "from the other desktop"

    window.sync.sync_now()
    qtbot.waitUntil(lambda: window.sync_button.text() == "● Conflict (1)", timeout=30_000)
    assert notes(db) == "from the other desktop"  # not overwritten blindly
    save_screenshot(window, "sync-conflict-status", tmp_path)

    status = window.open_sync_status()
    assert status.table.item(0, 0).text() == "conflict"
    assert status.resolve_button.isEnabled()
    conflict = status.resolve_selected()
    assert conflict is not None
    qtbot.waitExposed(conflict)
    mine = conflict.findChild(QPlainTextEdit, "mineText").toPlainText()
    theirs = conflict.findChild(QPlainTextEdit, "theirsText").toPlainText()
    assert "from the window" in mine and "from the other desktop" not in mine
    assert "from the other desktop" in theirs and "release.update by desktops" in theirs
    save_screenshot(conflict, "sync-conflict-dialog", tmp_path)

    qtbot.mouseClick(conflict.keep_mine, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.sync_button.text() == "● Synced", timeout=30_000)
    assert notes(db) == notes(local) == "from the window"
    save_screenshot(status, "sync-status-dialog", tmp_path)


def test_offline_edits_show_as_pending_and_go_up_on_reconnect(main_window, server_and_token,
                                                              qtbot, tmp_path,
                                                              start_server) -> None:  # noqa: F811
    from .conftest import save_screenshot

    server, token, db = server_and_token
    local = tmp_path / "desk.db"
    mirror.connect(Store.open(local), server.url, "local", "local", token)
    sync_outside(local)
    window = main_window(local)
    qtbot.waitUntil(lambda: window.sync_button.text() == "● Synced", timeout=30_000)
    window.sync.timer.stop()
    server.stop()

    assert window.run_change(EditRelease(R30, notes="written offline"))
    window.sync.sync_now()
    qtbot.waitUntil(lambda: window.sync_button.text() == "● Offline · 1 pending",
                    timeout=30_000)
    assert "cannot be reached" in window.ui.statusBar.currentMessage()
    save_screenshot(window, "sync-offline-status", tmp_path)

    assert window.run_change(EditRelease(R30, notes="second thoughts"))
    status = window.open_sync_status()
    assert [status.table.item(r, 1).text() for r in range(status.table.rowCount())] == [
        "Edit Full release 3.0", "Edit Full release 3.0"]
    status.table.selectRow(1)
    assert status.discard_selected(confirm=False)  # drop the second edit before it goes up
    qtbot.waitUntil(lambda: window.sync_button.text() == "● Offline · 1 pending",
                    timeout=30_000)

    start_server(db, port=int(server.url.rsplit(":", 1)[1]))
    window.sync.sync_now()
    qtbot.waitUntil(lambda: window.sync_button.text() == "● Synced", timeout=30_000)
    assert notes(db) == notes(local) == "written offline"


def test_pulling_a_large_fleet_keeps_the_window_responsive(main_window, start_server,  # noqa: F811
                                                           qtbot, tmp_path) -> None:
    from PySide6.QtCore import QElapsedTimer, QTimer

    from ota_desktop.demo import write_demo

    server_db = tmp_path / "server.db"
    store = Store.open(server_db)
    write_demo(store, scale=0.05)  # 49,050 devices: ten pages
    token = ProjectService(store).create_token("t")
    store.close()
    server = start_server(server_db)
    local = tmp_path / "desk.db"
    service = ProjectService(Store.open(local))
    service.create_project("desk", "Desk")
    service.add_software_type("main")
    service.create_cohort("default", "Default", is_default=True)
    window = main_window(local)

    gaps: list[int] = []
    clock = QElapsedTimer()
    clock.start()

    def tick() -> None:
        gaps.append(clock.restart())

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    progress: list[tuple[str, int, int]] = []
    window.sync.progress.connect(lambda *a: progress.append(a))
    window.sync.connect_to(server.url, "local", "local", token)
    qtbot.waitUntil(lambda: window.sync_button.text() == "● Synced", timeout=120_000)
    timer.stop()
    assert Store.open(local).device_count() == 49_050
    fleet = [p for p in progress if p[0] == "Reading the fleet"]
    assert len(fleet) >= 10 and fleet[-1][1:] == (49_050, 49_050)  # paged, with progress
    assert len(gaps) > 20 and max(gaps[2:]) < 400, max(gaps)  # the loop kept ticking
    qtbot.waitUntil(lambda: window.matrix is not None and sum(
        r.total for r in window.matrix.rows) == Store.open(local).device_count("default"),
        timeout=30_000)
