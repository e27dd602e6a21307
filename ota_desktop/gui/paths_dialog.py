"""Update paths of one cohort (every hop to the final target, with bytes) and the delta
planner (which current versions a Delta would pay off for)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ota_desktop.gui.controller import ProjectController
from ota_desktop.paths import TOP, DeltaAdvice, UpdatePath, delta_ratio, plan_deltas, update_paths


def _bytes(n: int) -> str:
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


class PathsDialog(QDialog):
    def __init__(self, controller: ProjectController, cohort: str, software_type: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.cohort, self.software_type = cohort, software_type
        self.setWindowTitle(f"Update paths — {cohort} / {software_type}")
        self.resize(860, 420)
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget(self)
        layout.addWidget(self.tabs)
        self.paths_table = self._table(["Current", "Devices", "Path", "Per device", "Fleet"])
        self.planner_table = self._table(["Current", "Devices", "Final", "Today per device",
                                          "Delta per device (est.)", "Fleet bytes saved", ""])
        self.tabs.addTab(self.paths_table, "&Paths")
        planner = QWidget()
        planner_layout = QVBoxLayout(planner)
        self.planner_note = QLabel(planner)
        self.planner_note.setWordWrap(True)
        planner_layout.addWidget(self.planner_note)
        planner_layout.addWidget(self.planner_table)
        self.tabs.addTab(planner, "&Delta planner")
        controller.changed.connect(self.reload)
        self.reload()

    def _table(self, headers: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.verticalHeader().hide()
        table.horizontalHeader().setStretchLastSection(True)
        return table

    def reload(self) -> None:
        store, config = self.controller.store, self.controller.config
        if store is None or config is None:
            return
        self.paths: list[UpdatePath] = update_paths(
            config, self.cohort, self.software_type, store.groups(self.cohort, self.software_type))
        self.advice: list[DeltaAdvice] = plan_deltas(config, self.cohort, self.software_type,
                                                     self.paths)
        self._fill(self.paths_table, [
            (p.version, f"{p.devices:,}", p.describe(), _bytes(p.bytes), _bytes(p.bytes * p.devices))
            for p in self.paths])
        self._fill(self.planner_table, [
            (a.version, f"{a.devices:,}", a.final, _bytes(a.path_bytes),
             "—" if a.has_delta or a.version == a.final else _bytes(a.delta_bytes),
             "has a Delta" if a.has_delta else "at target" if a.version == a.final
             else _bytes(a.saved_bytes), f"top {TOP}" if a.top else "")
            for a in self.advice])
        self.planner_note.setText(
            f"Current versions by device count. A Delta straight to the final target is "
            f"estimated at {delta_ratio(config):.0%} of the Full image (the median of this "
            f"project's Deltas, or 15% when there are none). Build Deltas for the top {TOP}; "
            "let the rest take Full releases.")

    def _fill(self, table: QTableWidget, rows: list[tuple[str, ...]]) -> None:
        table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                if c in (1, 3, 4, 5) and table is self.planner_table or (
                        table is self.paths_table and c in (1, 3, 4)):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(r, c, item)
        table.resizeColumnsToContents()
