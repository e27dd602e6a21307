"""The chronological list of activations: release, cohort, kind, %, status, who and when."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ota_desktop.gui.controller import ProjectController

HEADERS = ("Activated", "Software type", "Release", "Cohort", "Kind", "Rollout %", "Status",
           "Activated by", "Last change")


class HistoryDialog(QDialog):
    def __init__(self, controller: ProjectController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Activation history")
        self.resize(900, 420)
        layout = QVBoxLayout(self)
        self.summary = QLabel(self)
        layout.addWidget(self.summary)
        self.table = QTableWidget(0, len(HEADERS), self)
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        controller.changed.connect(self.reload)
        self.reload()

    def reload(self) -> None:
        store = self.controller.store
        rows = store.activation_history() if store is not None else []
        active = sum(r["status"] == "active" for r in rows)
        self.summary.setText(f"{len(rows)} activations, {active} active. "
                             "“Activated by” is empty when an org auth token did it.")
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            release = f"Δ {r['release']}" if r["is_delta"] else r["release"]
            percent = f"{r['rollout_percent']:g}" if r["rollout_percent"] is not None else ""
            for col, value in enumerate((r["created_at"], r["software_type"], release,
                                         r["cohort"], r["kind"], percent, r["status"],
                                         r["activated_by"], r["updated_at"])):
                self.table.setItem(i, col, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()
