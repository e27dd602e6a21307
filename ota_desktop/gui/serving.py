"""Factory serving from the window: the same device-facing server, run in a background
thread, with live check-in and download counts and a clean stop."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from ota_desktop.errors import BadInput


class DeviceServer(QObject):
    #: url when serving, "" when stopped
    stateChanged = Signal(str)
    #: check-ins, downloads (since the server started)
    statsChanged = Signal(int, int)
    #: check-ins were written: the matrix may have changed
    fleetChanged = Signal()
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.url = ""
        self._server: object | None = None
        self._thread: threading.Thread | None = None
        self._state: object | None = None
        self._last = (0, 0)
        self._written = 0
        self._timer = QTimer(self, interval=500)
        self._timer.timeout.connect(self._poll)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, path: Path, host: str, port: int) -> None:
        import uvicorn

        from ota_desktop.server.app import create_app
        from ota_desktop.server.state import ServerState

        if self.running:
            return
        with socket.socket() as probe:  # a clear error now instead of a dead thread later
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise BadInput(f"Cannot serve on {host}:{port}: {exc.strerror}.") from exc
        state = ServerState(path)
        state.start()
        config = uvicorn.Config(create_app(path, state), host=host, port=port,
                                log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        thread = threading.Thread(target=server.run, name="ota-serve", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10  # listening before the address is shown (~0.1 s)
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            server.should_exit = True
            thread.join(timeout=10)
            state.stop()
            raise BadInput(f"Could not start serving on {host}:{port}.")
        self._server, self._thread, self._state = server, thread, state
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.url = f"http://{shown}:{port}/"
        self._last, self._written = (0, 0), 0
        self._timer.start()
        self.stateChanged.emit(self.url)

    def stop(self) -> None:
        """Stop accepting requests, finish the ones in flight, flush check-ins."""
        server, thread, state = self._server, self._thread, self._state
        if server is None or thread is None:
            return
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)
        state.stop()  # type: ignore[attr-defined]
        self._server = self._thread = self._state = None
        self._timer.stop()
        self._poll_counts(state)
        self.url = ""
        self.stateChanged.emit("")
        self.fleetChanged.emit()

    def _poll(self) -> None:
        if self._state is not None:
            self._poll_counts(self._state)

    def _poll_counts(self, state: object) -> None:
        counters = state.counters  # type: ignore[attr-defined]
        now = (counters.checkins, counters.downloads)
        if now != self._last:
            self._last = now
            self.statsChanged.emit(*now)
        written = state.writer.written  # type: ignore[attr-defined]
        if written != self._written:
            self._written = written
            self.fleetChanged.emit()


class ServeDialog(QDialog):
    def __init__(self, port: int = 8080, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Serve devices")
        form = QFormLayout(self)
        form.addRow(QLabel("Devices on this network can then poll this desktop directly\n"
                           "(Latest Release endpoint and hawkBit DDI)."))
        self.host_combo = QComboBox(self)
        self.host_combo.addItem("This computer only (127.0.0.1)", "127.0.0.1")
        self.host_combo.addItem("Every network interface (0.0.0.0)", "0.0.0.0")
        self.port_spin = QSpinBox(self)
        self.port_spin.setRange(1024, 65535)
        self.port_spin.setValue(port)
        form.addRow("&Listen on:", self.host_combo)
        form.addRow("&Port:", self.port_spin)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, parent=self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Start serving")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    @property
    def host(self) -> str:
        return str(self.host_combo.currentData())

    @property
    def port(self) -> int:
        return self.port_spin.value()
