"""Tools → Fleet Simulator: the core simulator driven in real time from the window.

The simulator lives in its own worker thread (it owns its SQLite connections); a coroutine on
the window's event loop asks it every 50 ms to catch up with the real time passed times the
speed, at most 100 ms of work at a time, so the window keeps drawing whatever the speed. When
the machine cannot keep up, simulated time runs slower instead of piling up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ota_desktop.errors import OtaError
from ota_desktop.gui.controller import ProjectController
from ota_desktop.gui.widgets import error_label
from ota_desktop.simulator import (
    Pacer,
    SimCounters,
    SimSettings,
    Simulator,
    describe_duration,
)
from ota_desktop.versions import display_order

WORK_PER_STEP_S = 0.1
STEP_EVERY_S = 0.05


class SimulationRunner(QObject):
    #: a SimCounters snapshot
    countersChanged = Signal(object)
    #: devices were written: the matrix may have moved
    fleetChanged = Signal()
    #: "running", "paused" or "stopped"
    stateChanged = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pacer = Pacer(1.0)
        self.state = "stopped"
        self.counters = SimCounters()
        self.actual_speed = 0.0
        self._executor: ThreadPoolExecutor | None = None
        self._sim: Simulator | None = None
        self._task: asyncio.Task[Any] | None = None

    @property
    def speed(self) -> float:
        return self.pacer.speed

    def set_speed(self, speed: float) -> None:
        self.pacer.speed = speed

    def start(self, path: Path, settings: SimSettings) -> asyncio.Task[Any]:
        """Prepare the simulated devices (in the worker thread) and run."""
        if self._task is not None and not self._task.done():
            raise OtaError("A simulation is already running; stop it first.")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ota-sim")
        self._task = asyncio.get_event_loop().create_task(self._run(path, settings))
        return self._task

    def pause(self) -> None:
        if self.state == "running":
            self.pacer.pause()
            self._set_state("paused")

    def resume(self) -> None:
        if self.state == "paused":
            self.pacer.start()
            self._set_state("running")

    def stop(self) -> None:
        """Stop at once; the worker closes the simulator behind it."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._close()

    # --- the loop --------------------------------------------------------------------------

    async def _run(self, path: Path, settings: SimSettings) -> None:
        loop = asyncio.get_event_loop()
        executor = self._executor
        assert executor is not None
        try:
            sim = self._sim = await loop.run_in_executor(executor, Simulator, path, settings)
        except OtaError as exc:
            self.failed.emit(str(exc))
            self._close()
            return
        self.counters = SimCounters()
        self.fleetChanged.emit()  # created devices show at once
        self.pacer.start()
        self._set_state("running")
        window = (time.monotonic(), 0.0)
        while True:
            await asyncio.sleep(STEP_EVERY_S)
            if self.state != "running":
                continue
            owed = self.pacer.due()
            ticks, counters = await loop.run_in_executor(executor, _advance, sim, owed,
                                                         self.pacer.speed)
            self.counters = counters
            now = time.monotonic()
            if now - window[0] >= 1:
                self.actual_speed = (counters.sim_time - window[1]) / (now - window[0])
                window = (now, counters.sim_time)
            self.countersChanged.emit(counters)
            if ticks:
                self.fleetChanged.emit()

    def _close(self) -> None:
        sim, executor = self._sim, self._executor
        self._sim = self._executor = None
        if executor is not None:
            if sim is not None:
                executor.submit(sim.close)
            executor.shutdown(wait=False)
        self.pacer.pause()
        if self.state != "stopped":
            self._set_state("stopped")
            self.fleetChanged.emit()

    def _set_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)


def _advance(sim: Simulator, owed: float, speed: float) -> tuple[int, SimCounters]:
    """In the worker thread (touching no Qt object): catch up, within the work budget."""
    ticks = sim.step(owed, budget_s=WORK_PER_STEP_S)
    sim.drop_backlog(keep=speed * 0.5)
    return ticks, dataclasses.replace(sim.counters, pauses=list(sim.counters.pauses))


class SimulatorDialog(QDialog):
    """Settings, speed, Start/Pause/Stop and live counters."""

    def __init__(self, controller: ProjectController, cohort: str | None = None,
                 software_type: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.runner = SimulationRunner(self)
        self._setup_ui(cohort, software_type)
        self.runner.countersChanged.connect(self._on_counters)
        self.runner.stateChanged.connect(self._on_state)
        self.runner.failed.connect(self._on_failed)
        self._on_state("stopped")
        # the dialog belongs to the project it was opened on: another project closes it
        self._project = controller.path
        controller.opened.connect(self._on_project_opened)

    # --- public API ----------------------------------------------------------------------

    def settings(self) -> SimSettings:
        version = self.version_combo.currentText().strip() or None
        return SimSettings(
            self.cohort_combo.currentData(), self.type_combo.currentText(),
            devices=self.devices_spin.value(), create=self.create_spin.value(),
            start_version=version, interval_s=float(self.interval_spin.value()),
            failure_rate=self.failure_spin.value() / 100, seed=self.seed_spin.value())

    def start(self) -> None:
        if self.runner.state == "paused":
            self.runner.resume()
            return
        path = self.controller.path
        if path is None:
            self._on_failed("Open a project first.")
            return
        self.error_label.hide()
        self.runner.set_speed(self.speed())
        try:
            self.runner.start(path, self.settings())
        except OtaError as exc:
            self._on_failed(str(exc))

    def speed(self) -> float:
        return float(round(10 ** (self.speed_slider.value() / 100)))

    # --- setup ---------------------------------------------------------------------------

    def _setup_ui(self, cohort: str | None, software_type: str | None) -> None:
        self.setWindowTitle("Fleet Simulator")
        self.setObjectName("fleetSimulator")
        self.setMinimumWidth(600)
        layout = QVBoxLayout(self)
        intro = QLabel("Simulated devices poll this project's resolver, download what they are "
                       "offered, succeed or fail, and report back — the matrix follows live. "
                       "Failures count toward rollout guards like real device feedback.", self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        config = self.controller.config
        self.cohort_combo = QComboBox(self)
        for c in config.cohorts if config else ():
            self.cohort_combo.addItem(c.name if c.name == c.slug else f"{c.name} ({c.slug})",
                                      c.slug)
        self.cohort_combo.setCurrentIndex(max(self.cohort_combo.findData(cohort), 0))
        self.type_combo = QComboBox(self)
        self.type_combo.addItems(list(config.software_types) if config else ["main"])
        if software_type:
            self.type_combo.setCurrentIndex(max(self.type_combo.findText(software_type), 0))
        form.addRow("&Cohort:", self.cohort_combo)
        form.addRow("Software &type:", self.type_combo)
        self.devices_spin = QSpinBox(self)
        self.devices_spin.setRange(0, 2_000_000)
        self.devices_spin.setGroupSeparatorShown(True)
        self.devices_label = QLabel(self)
        devices_row = QHBoxLayout()
        devices_row.addWidget(self.devices_spin)
        devices_row.addWidget(self.devices_label)
        devices_row.addStretch()
        form.addRow("Existing devices:", devices_row)
        self.create_spin = QSpinBox(self)
        self.create_spin.setRange(0, 100_000)
        self.create_spin.setGroupSeparatorShown(True)
        self.version_combo = QComboBox(self)
        self.version_combo.setEditable(True)
        self.version_combo.setAccessibleName("Version new simulated devices start on")
        create_row = QHBoxLayout()
        create_row.addWidget(self.create_spin)
        create_row.addWidget(QLabel("new devices sim-0001… on version", self))
        create_row.addWidget(self.version_combo)
        create_row.addStretch()
        form.addRow("New devices:", create_row)
        self.interval_spin = QSpinBox(self)
        self.interval_spin.setRange(1, 30 * 86_400)
        self.interval_spin.setValue(600)
        self.interval_spin.setSuffix(" s (simulated)")
        form.addRow("&Polling interval:", self.interval_spin)
        self.failure_spin = QDoubleSpinBox(self)
        self.failure_spin.setRange(0, 100)
        self.failure_spin.setDecimals(1)
        self.failure_spin.setSuffix(" %")
        self.failure_spin.setValue(5.0)
        form.addRow("&Failure rate:", self.failure_spin)
        self.seed_spin = QSpinBox(self)
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setValue(1)
        self.seed_spin.setToolTip("The same seed and settings give the same run")
        form.addRow("S&eed:", self.seed_spin)
        self.speed_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.speed_slider.setRange(0, 300)  # 10^(v/100): 1x … 1000x
        self.speed_slider.setValue(200)
        self.speed_slider.setAccessibleName("Simulation speed")
        self.speed_label = QLabel(self)
        self.speed_label.setMinimumWidth(150)
        speed_row = QHBoxLayout()
        speed_row.addWidget(self.speed_slider, 1)
        speed_row.addWidget(self.speed_label)
        form.addRow("Speed:", speed_row)
        layout.addLayout(form)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("&Start", self)
        self.pause_button = QPushButton("&Pause", self)
        self.stop_button = QPushButton("S&top", self)
        for button in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(button)
        buttons.addStretch()
        layout.addLayout(buttons)

        box = QGroupBox("Live", self)
        grid = QGridLayout(box)
        self.counter_labels: dict[str, QLabel] = {}
        for i, (name, title) in enumerate((("time", "Simulated time"), ("polls", "Polls"),
                                           ("downloads", "Downloads"),
                                           ("successes", "Succeeded"),
                                           ("failures", "Failed"))):
            grid.addWidget(QLabel(title + ":", box), i // 3, (i % 3) * 2)
            value = QLabel("0", box)
            value.setObjectName(f"sim_{name}")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(value, i // 3, (i % 3) * 2 + 1)
            self.counter_labels[name] = value
        self.pauses_label = QLabel(box)
        self.pauses_label.setWordWrap(True)
        grid.addWidget(self.pauses_label, 2, 0, 1, 6)
        layout.addWidget(box)
        self.error_label = error_label(self)
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.runner.pause)
        self.stop_button.clicked.connect(self.runner.stop)
        self.speed_slider.valueChanged.connect(self._on_speed)
        self.cohort_combo.currentIndexChanged.connect(self._on_cohort)
        self.type_combo.currentIndexChanged.connect(self._on_cohort)
        self._on_speed()
        self._on_cohort()

    # --- slots ---------------------------------------------------------------------------

    def _on_cohort(self) -> None:
        store, config = self.controller.store, self.controller.config
        cohort, software_type = self.cohort_combo.currentData(), self.type_combo.currentText()
        if store is None or config is None or cohort is None:
            return
        groups = store.groups(cohort, software_type)
        total = sum(g.count for g in groups)
        self.devices_spin.setMaximum(total)
        self.devices_spin.setValue(min(total, 1000))
        self.devices_label.setText(f"of {total:,} in the cohort (first by serial)")
        versions = display_order(config.scheme, {g.version for g in groups} | {
            r.version for r in config.releases if r.software_type == software_type} - {""})
        self.version_combo.clear()
        self.version_combo.addItems(versions)

    def _on_speed(self) -> None:
        speed = self.speed()
        self.runner.set_speed(speed)
        self._show_speed()

    def _show_speed(self) -> None:
        text = f"×{self.speed():,.0f}"
        if self.runner.state == "running" and self.runner.actual_speed:
            text += f" (actual ×{self.runner.actual_speed:,.0f})"
        self.speed_label.setText(text)

    def _on_counters(self, counters: SimCounters) -> None:
        labels = self.counter_labels
        labels["time"].setText(describe_duration(counters.sim_time))
        for name in ("polls", "downloads", "successes", "failures"):
            labels[name].setText(f"{getattr(counters, name):,}")
        self.pauses_label.setText("\n".join(
            f"Paused after {describe_duration(at)}: {reason}" for at, reason in counters.pauses))
        self._show_speed()

    def _on_state(self, state: str) -> None:
        running = state == "running"
        self.start_button.setEnabled(not running)
        self.start_button.setText("&Resume" if state == "paused" else "&Start")
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(state != "stopped")
        for widget in (self.cohort_combo, self.type_combo, self.devices_spin, self.create_spin,
                       self.version_combo, self.interval_spin, self.failure_spin,
                       self.seed_spin):
            widget.setEnabled(state == "stopped")
        self._show_speed()

    def _on_failed(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def _on_project_opened(self, path: str, _config: object) -> None:
        if self._project is not None and Path(path) != self._project:
            self.reject()  # stops the run (done() below)

    def done(self, result: int) -> None:
        self.runner.stop()
        super().done(result)
