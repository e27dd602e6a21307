"""The chronological list of activations: release, cohort, kind, %, status, who and when, each
one's rollout guard and, for a paused one, why — with Resume for the selected paused row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ota_desktop.changes import Change, Resume
from ota_desktop.gui.controller import ProjectController
from ota_desktop.model import ReleaseRef, RolloutGuard

HEADERS = ("Activated", "Software type", "Release", "Cohort", "Kind", "Rollout %", "Status",
           "Activated by", "Last change", "Rollout guard", "Paused because")


class HistoryDialog(QDialog):
    def __init__(self, controller: ProjectController, parent: QWidget | None = None,
                 run_change: Callable[[Change], Any] | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.run_change = run_change
        self.rows: list[dict[str, Any]] = []
        self.setWindowTitle("Activation history")
        self.resize(1100, 420)
        layout = QVBoxLayout(self)
        self.summary = QLabel(self)
        layout.addWidget(self.summary)
        self.table = QTableWidget(0, len(HEADERS), self)
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.resume_button = QPushButton("&Resume selected", self)
        self.resume_button.setEnabled(False)
        self.resume_button.setVisible(run_change is not None)
        buttons.addStretch()
        buttons.addWidget(self.resume_button)
        layout.addLayout(buttons)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.resume_button.clicked.connect(self._on_resume)
        controller.changed.connect(self.reload)
        self.reload()

    def reload(self) -> None:
        store = self.controller.store
        rows = self.rows = store.activation_history() if store is not None else []
        active = sum(r["status"] == "active" for r in rows)
        paused = sum(r["status"] == "active" and r["paused"] for r in rows)
        self.summary.setText(f"{len(rows)} activations, {active} active"
                             + (f" ({paused} paused)" if paused else "") +
                             ". “Activated by” is empty when an org auth token did it.")
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            release = f"Δ {r['release']}" if r["is_delta"] else r["release"]
            percent = f"{r['rollout_percent']:g}" if r["rollout_percent"] is not None else ""
            live = r["status"] == "active"
            status = "paused" if live and r["paused"] else r["status"]
            guard = ""
            if r["guard"] is not None:
                guard = RolloutGuard(**r["guard"]).describe()
                if live:
                    guard += f" — {r['failures']} of {r['reports']} reporting failed"
            reason = r["paused_reason"] or "" if live else ""
            for col, value in enumerate((r["created_at"], r["software_type"], release,
                                         r["cohort"], r["kind"], percent, status,
                                         r["activated_by"], r["updated_at"], guard, reason)):
                self.table.setItem(i, col, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()
        self._on_selection()

    def selected(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows else None

    def _on_selection(self) -> None:
        row = self.selected()
        self.resume_button.setEnabled(bool(row and row["status"] == "active" and row["paused"]))

    def _on_resume(self) -> None:
        row = self.selected()
        if row is None or self.run_change is None:
            return
        self.run_change(Resume(_ref(row), row["cohort"]))


def _ref(row: dict[str, Any]) -> ReleaseRef:
    if row["is_delta"]:
        old, new = row["release"].split("→", 1)
        return ReleaseRef(row["software_type"], from_version=old, to_version=new)
    return ReleaseRef(row["software_type"], version=row["release"])
