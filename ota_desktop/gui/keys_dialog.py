"""Project keys, each with an optional OTA cohort override."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ota_desktop.changes import Change, CreateKey, SetKeyOverride
from ota_desktop.gui.controller import ProjectController

NO_OVERRIDE = "(no override)"


class KeysDialog(QDialog):
    def __init__(self, controller: ProjectController, run_change: Callable[[Change], bool],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.run_change = run_change
        self.setWindowTitle("Project keys")
        self.resize(640, 320)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Devices send a project key with every query. A key's cohort "
                                "override changes the cohort its devices are served from "
                                "(their stored cohort and staged mark stay)."))
        self.table = QTableWidget(0, 2, self)
        self.table.setHorizontalHeaderLabels(["Key", "OTA cohort override"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        self.override_combo = QComboBox(self)
        self.new_button = QPushButton("&New key", self)
        self.set_button = QPushButton("&Set override of selected key", self)
        row.addWidget(QLabel("Override:"))
        row.addWidget(self.override_combo)
        row.addWidget(self.new_button)
        row.addWidget(self.set_button)
        row.addStretch()
        layout.addLayout(row)
        self.new_button.clicked.connect(self.create_key)
        self.set_button.clicked.connect(self.set_override)
        controller.changed.connect(self.reload)
        self.reload()

    def _override(self) -> str | None:
        return self.override_combo.currentData()

    def create_key(self) -> None:
        self.run_change(CreateKey(secrets.token_hex(16), self._override()))

    def set_override(self) -> None:
        rows = self.table.selectionModel().selectedRows() or [
            self.table.model().index(self.table.currentRow(), 0)]
        config = self.controller.config
        if config is None or not rows or rows[0].row() < 0:
            return
        key = config.project_keys[rows[0].row()].key
        self.run_change(SetKeyOverride(key, self._override()))

    def reload(self) -> None:
        config = self.controller.config
        if config is None:
            return
        current = self.override_combo.currentData()
        self.override_combo.clear()
        self.override_combo.addItem(NO_OVERRIDE, None)
        for c in config.cohorts:
            self.override_combo.addItem(c.slug, c.slug)
        self.override_combo.setCurrentIndex(max(self.override_combo.findData(current), 0))
        self.table.setRowCount(len(config.project_keys))
        for r, key in enumerate(config.project_keys):
            self.table.setItem(r, 0, QTableWidgetItem(key.key))
            self.table.setItem(r, 1, QTableWidgetItem(key.cohort_override or NO_OVERRIDE))
        self.table.resizeColumnToContents(0)
