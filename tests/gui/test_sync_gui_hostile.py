"""Regressions from a hostile pass over sync in the window."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from ota_desktop.changes import CreateCohort, EditRelease
from ota_desktop.service import ProjectService
from ota_desktop.store import Store
from ota_desktop.sync import mirror
from tests.gui.test_sync_gui import R30, notes, server_and_token, sync_outside  # noqa: F401
from tests.server.conftest import start_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.gui


@pytest.fixture
def linked_window(main_window, server_and_token, qtbot, tmp_path):  # noqa: F811
    server, token, db = server_and_token
    local = tmp_path / "desk.db"
    mirror.connect(Store.open(local), server.url, "local", "local", token)
    sync_outside(local)
    window = main_window(local)
    qtbot.waitUntil(lambda: window.sync_button.text() == "● Synced", timeout=30_000)
    window.sync.timer.stop()
    return window, server, token, db, local


def test_an_edit_being_sent_cannot_be_undone_quietly(linked_window, qtbot, monkeypatch) -> None:
    window, server, token, db, local = linked_window
    shown: list[str] = []
    monkeypatch.setattr(window, "_on_failed", shown.append)
    window.undo_stack.clear()
    assert window.run_change(EditRelease(R30, notes="A"))
    [item] = mirror.outbox(Store.open(local))
    mirror.mark_sending(Store.open(local), [item.uuid])  # the push is on the wire
    window.undo_stack.undo()
    assert shown and "being sent" in shown[-1]
    assert notes(local) == "A"  # what the window shows is what goes to the server
    [still] = mirror.outbox(Store.open(local))
    assert still.state == "pending"


def test_a_failing_sync_shows_sync_failed_not_synced(linked_window, qtbot) -> None:
    window, server, token, db, local = linked_window
    ProjectService(Store.open(db)).revoke_token(token[:10])
    window.sync.sync_now()
    qtbot.waitUntil(lambda: window.sync_button.text() == "● Sync failed", timeout=30_000)
    assert "credentials" in window.sync_button.toolTip()


def test_the_sync_dialog_keeps_the_selected_edit_as_rows_shift(linked_window, qtbot) -> None:
    window, server, token, db, local = linked_window
    for change in (CreateCohort("first"), EditRelease(R30, notes="mine"), CreateCohort("third")):
        assert window.run_change(change)
    status = window.open_sync_status()
    status.table.selectRow(1)
    assert status.selected_item().description == "Edit Full release 3.0"
    store = Store.open(local)  # "first" goes up, as a sync would do it
    first = mirror.outbox(store)[0]
    mirror.record_push(store, [{"id": first.uuid, "seq": 999}], None)
    status.reload()
    assert status.selected_item().description == "Edit Full release 3.0"


def test_disconnecting_during_a_sync_stops_it_cleanly(linked_window, qtbot) -> None:
    window, server, token, db, local = linked_window
    errors: list[object] = []
    loop = __import__("asyncio").get_event_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    assert window.run_change(CreateCohort("before-disconnect"))
    window.sync.sync_now()
    window.sync.disconnect()
    assert window.sync_button.text() == "● Disconnected · 1 pending"
    window.sync.connect_to(server.url, "local", "local", token)
    qtbot.waitUntil(lambda: window.sync_button.text() == "● Synced", timeout=30_000)
    assert "before-disconnect" in [c.slug for c in Store.open(db).cohorts()]
    import gc
    gc.collect()
    qtbot.wait(50)
    assert errors == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://[::1", "http://127.0.0.1:port",
                                 "http://", "ftp://host", "http://h?x=1"])
def test_the_connect_dialog_refuses_unusable_addresses(main_window, small_demo, url) -> None:
    window = main_window(small_demo)
    dialog = window.open_connect()
    dialog.url_edit.setText(url)
    dialog.token_edit.setText("oat_x")
    dialog.connect_button.click()
    assert dialog.isVisible() and dialog.error.text()
    assert mirror.link(Store.open(small_demo)) is None


def test_an_edit_waits_for_a_sync_step_holding_the_write_lock(linked_window, qtbot) -> None:
    window, server, token, db, local = linked_window
    held = threading.Event()

    def hold() -> None:  # a long sync step, on another connection
        conn = sqlite3.connect(local)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(1.0)
        conn.commit()
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    assert window.run_change(CreateCohort("after-the-lock"))  # waited, then wrote
    thread.join()
    assert "after-the-lock" in [c.slug for c in Store.open(local).cohorts()]


def test_https_to_a_plain_http_server_is_a_configuration_error(linked_window, qtbot) -> None:
    window, server, token, db, local = linked_window
    window.sync.connect_to(server.url.replace("http://", "https://"), "local", "local", token)
    qtbot.waitUntil(lambda: window.sync_button.text().startswith("● Sync failed"),
                    timeout=30_000)
    assert "http://" in window.sync_button.toolTip()


def test_reconnecting_under_another_host_name_keeps_queued_edits(linked_window, qtbot) -> None:
    window, server, token, db, local = linked_window
    window.sync.disconnect()
    assert window.run_change(EditRelease(R30, notes="queued while disconnected"))
    window.sync.connect_to(server.url.replace("127.0.0.1", "localhost"), "local", "local",
                           token)
    qtbot.waitUntil(lambda: window.sync_button.text() == "● Synced", timeout=30_000)
    assert notes(db) == "queued while disconnected"




def test_link_actions_on_a_busy_file_say_so_and_stop_syncing(linked_window, qtbot,
                                                             monkeypatch) -> None:
    import ota_desktop.gui.sync as gui_sync

    window, server, token, db, local = linked_window
    shown: list[str] = []
    monkeypatch.setattr(window, "_on_failed", shown.append)

    def busy(*_args, **_kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(gui_sync.mirror, "disconnect", busy)
    window.sync.timer.start()
    window._on_disconnect()
    assert shown and "busy" in shown[-1] and "nothing was changed" in shown[-1]
    assert not window.sync.timer.isActive() and not window.sync.running


def test_the_undo_cleared_sentence_survives_the_matrix_refresh(linked_window, qtbot) -> None:
    window, server, token, db, local = linked_window
    assert window.run_change(EditRelease(R30, notes="to be sent"))
    assert window.undo_stack.count() == 1
    with qtbot.waitSignal(window.matrixShown, timeout=30_000):
        window.sync.sync_now()
    qtbot.waitUntil(lambda: window.undo_stack.count() == 0, timeout=30_000)
    qtbot.waitUntil(lambda: "Undo history cleared" in window.ui.statusBar.currentMessage(),
                    timeout=10_000)
