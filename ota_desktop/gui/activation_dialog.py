"""Activate a release in a cohort (normally or as a staged rollout, optionally with a rollout
guard), change a rollout's percentage or guard, or pull it — always showing the what-if before
anything is applied."""

from __future__ import annotations

from typing import Literal

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ota_desktop.changes import Activate, Change, Pull, SetGuard, SetRollout, new_seed
from ota_desktop.errors import OtaError
from ota_desktop.gui.controller import ProjectController
from ota_desktop.gui.text import exact
from ota_desktop.gui.widgets import error_label
from ota_desktop.model import ReleaseRef, RolloutGuard
from ota_desktop.whatif import WhatIf

Mode = Literal["activate", "rollout", "pull", "guard"]
_TITLES = {"activate": "Activate release", "rollout": "Configure staged rollout",
           "pull": "Pull (abort) release", "guard": "Rollout guard"}
_BUTTONS = {"activate": "&Activate", "rollout": "&Apply", "pull": "&Pull", "guard": "&Apply"}


class ActivationDialog(QDialog):
    def __init__(self, controller: ProjectController, ref: ReleaseRef, cohort: str,
                 mode: Mode = "activate", percent: float | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.ref = ref
        self.mode = mode
        self.seed = new_seed()  # fixed for this dialog: preview and apply draw the same devices
        self.whatif: WhatIf | None = None
        self._timer = QTimer(self, singleShot=True, interval=120)
        self._timer.timeout.connect(self._refresh_preview)
        self._setup_ui(cohort, percent)
        self._refresh_preview()

    # --- public API ----------------------------------------------------------------------

    def change(self) -> Change:
        cohort = self.cohort_combo.currentData()
        if self.mode == "pull":
            return Pull(self.ref, cohort)
        if self.mode == "guard":
            return SetGuard(self.ref, cohort, self.guard())
        percent = self.percent_spin.value()
        if self.mode == "rollout":
            return SetRollout(self.ref, cohort, percent, seed=self.seed)
        staged = self.staged_radio.isChecked()
        return Activate(self.ref, cohort, kind="staged" if staged else "normal",
                        rollout_percent=percent if staged else None, seed=self.seed,
                        guard=self.guard())

    def guard(self) -> RolloutGuard | None:
        """The rollout guard the fields describe (None: no guard)."""
        failures = self.failures_spin.value() if self.failures_check.isChecked() else None
        share = self.share_spin.value() if self.share_check.isChecked() else None
        if failures is None and share is None:
            return None
        return RolloutGuard(failures, share, self.min_reports_spin.value())

    @property
    def apply_button(self):  # noqa: ANN201 - a QPushButton
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    # --- setup ---------------------------------------------------------------------------

    def _setup_ui(self, cohort: str, percent: float | None) -> None:
        self.setWindowTitle(_TITLES[self.mode])
        self.resize(640, 460)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        name = (f"Delta {self.ref.from_version} → {self.ref.to_version}" if self.ref.is_delta
                else f"Full release {self.ref.version}")
        form.addRow("Release:", QLabel(f"<b>{name}</b> ({self.ref.software_type})"))
        self.cohort_combo = QComboBox(self)
        config = self.controller.config
        for c in config.cohorts if config else ():
            self.cohort_combo.addItem(c.name if c.name == c.slug else f"{c.name} ({c.slug})",
                                      c.slug)
        self.cohort_combo.setCurrentIndex(max(self.cohort_combo.findData(cohort), 0))
        self.cohort_combo.setEnabled(self.mode == "activate")
        form.addRow("&Cohort:", self.cohort_combo)

        self.normal_radio = QRadioButton("&Normal: every device in the cohort", self)
        self.staged_radio = QRadioButton("&Staged rollout:", self)
        group = QButtonGroup(self)
        group.addButton(self.normal_radio)
        group.addButton(self.staged_radio)
        self.percent_spin = QDoubleSpinBox(self)
        self.percent_spin.setRange(0.1, 99.9)
        self.percent_spin.setDecimals(1)
        self.percent_spin.setSuffix(" %")
        self.percent_spin.setValue(percent if percent is not None else 10.0)
        self.percent_spin.setAccessibleName("Rollout percentage")
        staged_row = QHBoxLayout()
        staged_row.addWidget(self.staged_radio)
        staged_row.addWidget(self.percent_spin)
        staged_row.addStretch()
        if self.mode == "activate":
            self.normal_radio.setChecked(True)
            form.addRow("How:", self.normal_radio)
            form.addRow("", staged_row)
        elif self.mode == "rollout":
            self.staged_radio.setChecked(True)
            self.staged_radio.setText("Staged share:")
            form.addRow("", staged_row)
        self.percent_spin.setEnabled(self.mode == "rollout")
        if self.mode in ("activate", "guard"):
            self._add_guard_fields(form, cohort)
        layout.addLayout(form)

        self.summary_label = QLabel(self)
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)
        self.preview_table = QTableWidget(0, 5, self)
        self.preview_table.setHorizontalHeaderLabels(
            ["Current", "Next", "Devices now", "After", "Change"])
        self.preview_table.verticalHeader().hide()
        self.preview_table.horizontalHeader().setStretchLastSection(True)
        self.preview_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(self.preview_table)
        self.error_label = error_label(self)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel, parent=self)
        self.apply_button.setText(_BUTTONS[self.mode])
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.cohort_combo.currentIndexChanged.connect(self._schedule)
        self.staged_radio.toggled.connect(self._on_staged_toggled)
        self.percent_spin.valueChanged.connect(self._schedule)

    def _add_guard_fields(self, form: QFormLayout, cohort: str) -> None:
        """Pause automatically when failure feedback from the cohort passes a threshold."""
        current = None
        if self.mode == "guard" and self.controller.config is not None:
            current = next((a.guard for a in self.controller.config.activations_in(cohort)
                            if a.release == self.ref and a.status == "active"), None)
        self.failures_check = QCheckBox("Pause after", self)
        self.failures_spin = QSpinBox(self)
        self.failures_spin.setRange(1, 10_000_000)
        self.failures_spin.setValue(current.failures if current and current.failures else 10)
        self.failures_spin.setSuffix(" failed devices")
        self.failures_spin.setAccessibleName("Failed devices that pause the rollout")
        self.share_check = QCheckBox("or when", self)
        self.share_spin = QDoubleSpinBox(self)
        self.share_spin.setRange(0.1, 100)
        self.share_spin.setDecimals(1)
        self.share_spin.setSuffix(" %")
        self.share_spin.setValue(current.percent if current and current.percent else 5.0)
        self.share_spin.setAccessibleName("Failure percentage that pauses the rollout")
        self.min_reports_spin = QSpinBox(self)
        self.min_reports_spin.setRange(1, 10_000_000)
        self.min_reports_spin.setValue(current.min_reports if current else 20)
        self.min_reports_spin.setAccessibleName("Reports needed before the percentage counts")
        self.failures_check.setChecked(current is not None and current.failures is not None)
        self.share_check.setChecked(current is not None and current.percent is not None)
        count_row = QHBoxLayout()
        count_row.addWidget(self.failures_check)
        count_row.addWidget(self.failures_spin)
        count_row.addStretch()
        share_row = QHBoxLayout()
        share_row.addWidget(self.share_check)
        share_row.addWidget(self.share_spin)
        share_row.addWidget(QLabel("of the devices that reported failed, once", self))
        share_row.addWidget(self.min_reports_spin)
        share_row.addWidget(QLabel("reported", self))
        share_row.addStretch()
        form.addRow("Rollout guard:", count_row)
        form.addRow("", share_row)
        hint = QLabel("Failure feedback from this cohort's devices is counted from activation "
                      "(or the last resume); when it passes, the release pauses itself until "
                      "you resume it.", self)
        hint.setWordWrap(True)
        form.addRow("", hint)
        for check, spin in ((self.failures_check, self.failures_spin),
                            (self.share_check, self.share_spin)):
            spin.setEnabled(check.isChecked())
            check.toggled.connect(spin.setEnabled)
            check.toggled.connect(self._schedule)
            spin.valueChanged.connect(self._schedule)
        self.min_reports_spin.setEnabled(self.share_check.isChecked())
        self.share_check.toggled.connect(self.min_reports_spin.setEnabled)
        self.min_reports_spin.valueChanged.connect(self._schedule)

    # --- slots ---------------------------------------------------------------------------

    def _on_staged_toggled(self, staged: bool) -> None:
        self.percent_spin.setEnabled(staged)
        self._schedule()

    def _schedule(self) -> None:
        self.apply_button.setEnabled(False)  # until the what-if matches the inputs again
        self._timer.start()

    def accept(self) -> None:
        if self._timer.isActive():
            # The inputs changed since the preview on screen: show the new what-if first.
            self._timer.stop()
            self._refresh_preview()
            return
        if self.whatif is not None and self.apply_button.isEnabled():
            super().accept()

    def _refresh_preview(self) -> None:
        try:
            whatif = self.controller.preview(self.change())
        except OtaError as exc:
            self.whatif = None
            self.preview_table.setRowCount(0)
            self.summary_label.setText("")
            self.error_label.setText(str(exc))
            self.error_label.show()
            self.apply_button.setEnabled(False)
            return
        self.whatif = whatif
        self.error_label.hide()
        self.apply_button.setEnabled(True)
        moved = whatif.devices_moved
        self.summary_label.setText(
            f"{whatif.description}: {exact(moved)} device{'s' if moved != 1 else ''} change "
            f"their next step." if moved else
            f"{whatif.description}: no device's next step changes.")
        self.preview_table.setRowCount(len(whatif.moves))
        for row, move in enumerate(whatif.moves):
            stays = move.column == move.row
            values = (move.row, f"{move.column} (stay)" if stays else move.column,
                      exact(move.before), exact(move.after), f"{move.delta:+,}")
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                if col >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.preview_table.setItem(row, col, item)
