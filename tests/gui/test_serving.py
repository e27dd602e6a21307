"""Factory serving from the window: start, live counts, the matrix follows, clean stop."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import QTimer

from tests.server.conftest import free_port

pytestmark = pytest.mark.gui
KEY = {"Memfault-Project-Key": "demo-project-key"}


def test_serve_devices_counts_check_ins_and_the_matrix_follows(main_window, small_demo: Path,
                                                               qtbot, tmp_path) -> None:
    from .conftest import save_screenshot

    window = main_window(small_demo)
    port = free_port()
    assert window.start_serving("127.0.0.1", port)
    assert window.ui.actionServe.isChecked()
    assert f"127.0.0.1:{port}" in window.serving_label.text()
    url = f"http://127.0.0.1:{port}/api/v0/releases/latest"
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    results: list[int] = []

    def load() -> None:  # 300 device polls from another thread, like a factory line
        with httpx.Client(timeout=10) as c:
            for i in range(300):
                r = c.get(url, headers=KEY, params={"device_serial": f"LINE-{i:03d}",
                                                    "hardware_version": "evt",
                                                    "current_version": "0.9"})
                results.append(r.status_code)

    thread = threading.Thread(target=load)
    thread.start()
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=60_000)
    timer.stop()
    assert results.count(200) == 300
    assert len(ticks) > 10  # the window kept running its event loop under load
    qtbot.waitUntil(lambda: "300 check-ins" in window.serving_label.text(), timeout=5000)
    qtbot.waitUntil(lambda: {r.version: r.total for r in window.matrix.rows}.get("0.9") == 321,
                    timeout=10_000)
    save_screenshot(window, "serving", tmp_path)
    window.stop_serving()
    assert not window.device_server.running and not window.ui.actionServe.isChecked()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, headers=KEY, timeout=2)


def test_a_busy_port_is_a_clear_message(main_window, small_demo, monkeypatch) -> None:
    import socket

    from PySide6.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))
    window = main_window(small_demo)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not window.start_serving("127.0.0.1", port)
    assert "Cannot serve on 127.0.0.1" in shown[0]
    assert not window.ui.actionServe.isChecked()


def test_device_details_show_hawkbit_feedback(main_window, small_demo, qtbot, tmp_path) -> None:
    from ota_desktop.server.checkins import ActionOffered, Feedback, write_batch
    from ota_desktop.store import Store

    from .conftest import save_screenshot

    store = Store.open(small_demo)
    write_batch(store, [
        ActionOffered("42", "DEF-09-000001", "Full 2.0", "2.0", None),
        Feedback("DEF-09-000001", "42", "deployment", "proceeding", "none", {"cnt": 1, "of": 2},
                 ["downloading"]),
        Feedback("DEF-09-000001", "42", "deployment", "closed", "failure", None,
                 ["flash write failed"]),
    ])
    window = main_window(small_demo)
    details = window.open_device(window.controller.store.device("DEF-09-000001"))
    table = details.feedback_table
    assert table.rowCount() == 2
    assert [table.item(1, c).text() for c in (1, 2, 4)] == [
        "Full 2.0", "closed / failure", "flash write failed"]
    assert table.item(0, 3).text() == "1 of 2"
    details.tabs.setCurrentIndex(2)
    save_screenshot(details, "device-updates", tmp_path)
