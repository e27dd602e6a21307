"""Adapts a :class:`VersionMatrix` for a ``QTableView``; it only translates, never computes.

Columns: the row's device total, its active Delta, one column per next version, and the
row's final target(s). Rows: the current versions, in scheme order.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from ota_desktop.gui.icons import icon
from ota_desktop.gui.text import abbreviate, devices, exact
from ota_desktop.matrix import Cell, Column, Row, VersionMatrix

CELL_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMN_ROLE = Qt.ItemDataRole.UserRole + 2
ROW_ROLE = Qt.ItemDataRole.UserRole + 3

TOTAL, DELTA = 0, 1
FIXED_COLUMNS = 2

Index = QModelIndex | QPersistentModelIndex


class VersionMatrixModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._matrix: VersionMatrix | None = None

    # --- public API ----------------------------------------------------------------------

    @property
    def matrix(self) -> VersionMatrix | None:
        return self._matrix

    def set_matrix(self, matrix: VersionMatrix | None) -> None:
        self.beginResetModel()
        self._matrix = matrix
        self.endResetModel()

    def cell_at(self, index: Index) -> Cell | None:
        value = self.data(index, CELL_ROLE)
        return value if isinstance(value, Cell) else None

    def index_of(self, row_version: str, column_version: str) -> QModelIndex:
        m = self._matrix
        if m is None:
            return QModelIndex()
        rows = [r.version for r in m.rows]
        cols = [c.version for c in m.columns]
        return self.index(rows.index(row_version), FIXED_COLUMNS + cols.index(column_version))

    # --- Qt model interface ----------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() or self._matrix is None:
            return 0
        return len(self._matrix.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() or self._matrix is None:
            return 0
        return FIXED_COLUMNS + len(self._matrix.columns) + 1

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def _final_column(self) -> int:
        assert self._matrix is not None
        return FIXED_COLUMNS + len(self._matrix.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        m = self._matrix
        if m is None or not index.isValid():
            return None
        row = m.rows[index.row()]
        col = index.column()
        if role == ROW_ROLE:
            return row
        if col == TOTAL:
            return self._total_data(row, role)
        if col == DELTA:
            return self._delta_data(row, role)
        if col == self._final_column():
            return self._final_data(row, role)
        column = m.columns[col - FIXED_COLUMNS]
        if role == COLUMN_ROLE:
            return column
        cell = row.cells.get(column.version)
        if role == CELL_ROLE:
            return cell
        if cell is None:
            return None
        return self._cell_data(m, row, cell, role)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        m = self._matrix
        if m is None:
            return None
        if orientation == Qt.Orientation.Vertical:
            return self._row_header(m.rows[section], role)
        if section == TOTAL:
            return {Qt.ItemDataRole.DisplayRole: "Devices",
                    Qt.ItemDataRole.ToolTipRole: "Devices currently on this version"}.get(role)
        if section == DELTA:
            return {Qt.ItemDataRole.DisplayRole: "Delta",
                    Qt.ItemDataRole.DecorationRole: icon("delta"),
                    Qt.ItemDataRole.ToolTipRole: "The active Delta release from this version"
                    }.get(role)
        if section == self._final_column():
            return {Qt.ItemDataRole.DisplayRole: "Final target",
                    Qt.ItemDataRole.DecorationRole: icon("final"),
                    Qt.ItemDataRole.ToolTipRole: "Where devices on this version end up"}.get(role)
        return self._column_header(m.columns[section - FIXED_COLUMNS], role)

    # --- roles ---------------------------------------------------------------------------

    def _cell_data(self, m: VersionMatrix, row: Row, cell: Cell, role: int) -> Any:
        stays = cell.column == row.version
        if role == Qt.ItemDataRole.DisplayRole:
            if cell.staged:
                return f"{abbreviate(cell.count)} of {abbreviate(cell.staged_of)}"
            return abbreviate(cell.count)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _cell_tooltip(m, row, cell)
        if role == Qt.ItemDataRole.DecorationRole and cell.staged:
            return icon("staged")
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.FontRole and not stays:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole:
            palette = QApplication.palette()
            if stays:
                return palette.color(QPalette.ColorRole.AlternateBase)
            color = QColor(palette.color(QPalette.ColorRole.Highlight))
            color.setAlpha(60)
            return color
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return _cell_tooltip(m, row, cell)
        return None

    def _total_data(self, row: Row, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return abbreviate(row.total)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{devices(row.total)} on {row.version}"
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _delta_data(self, row: Row, role: int) -> Any:
        delta = row.active_delta
        m = self._matrix
        paused = next(((d, m.paused_reason(d)) for d in row.deltas
                       if m is not None and m.paused_reason(d)), None) if delta is None else None
        if role == Qt.ItemDataRole.DisplayRole:
            if delta is not None:
                return f"→ {delta.to_version}"
            if paused is not None:
                return f"→ {paused[0].to_version} paused"
            return f"({len(row.deltas)} inactive)" if row.deltas else "—"
        if role == Qt.ItemDataRole.DecorationRole and (delta is not None or paused):
            return icon("delta" if delta is not None else "warning")
        if role == Qt.ItemDataRole.ToolTipRole:
            if delta is not None:
                return f"Active Delta release {delta.from_version} → {delta.to_version}"
            if paused is not None:
                return (f"Delta release {paused[0].from_version} → {paused[0].to_version} is "
                        f"paused here: {paused[1]}. Right-click the row to resume it.")
            if row.deltas:
                names = ", ".join(f"{d.from_version}→{d.to_version}" for d in row.deltas)
                return f"Delta releases from {row.version} exist but none is active: {names}"
            return f"No Delta release from {row.version}"
        return None

    def _final_data(self, row: Row, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return ", ".join(row.final_targets)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"Devices on {row.version} end up on "
                    f"{' or '.join(row.final_targets)} once every update is taken")
        return None

    def _row_header(self, row: Row, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return row.version or "(none)"
        if role == Qt.ItemDataRole.DecorationRole and not row.valid:
            return icon("warning")
        if role == Qt.ItemDataRole.ToolTipRole:
            if not row.valid:
                return (f"{row.version!r} is not a valid version in this project's scheme; "
                        f"{devices(row.total)} report it and get no update")
            return f"{devices(row.total)} currently on {row.version}"
        return None

    def _column_header(self, column: Column, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{column.version} paused" if column.paused else column.version
        if role == COLUMN_ROLE:
            return column
        if role == Qt.ItemDataRole.DecorationRole:
            # the final-target flag is painted by MatrixHeader
            if column.paused:
                return icon("warning")
            return icon("active" if column.active else "inactive" if column.release
                        else "no_release")
        if role == Qt.ItemDataRole.ToolTipRole:
            parts = []
            if column.paused:
                parts.append(f"Full release {column.version} is PAUSED in this cohort and not "
                             f"offered: {column.paused}. Right-click → Resume serves it again")
            elif column.release is None:
                parts.append(f"There is no Full release {column.version}")
            elif column.active:
                mpt = " (must pass through)" if column.release.must_pass_through else ""
                parts.append(f"Full release {column.version}{mpt} is active in this cohort")
            else:
                parts.append(f"Full release {column.version} exists but is not active here")
            if column.final_target:
                parts.append("it is a final target: devices end here")
            return "; ".join(parts)
        return None


def _cell_tooltip(m: VersionMatrix, row: Row, cell: Cell) -> str:
    if cell.column == row.version:
        text = f"{exact(cell.count)} of {exact(row.total)} devices on {row.version} stay on it"
    else:
        how = {"delta": "a Delta release", "full": "a Full release"}.get(cell.kind or "", "")
        text = (f"{exact(cell.count)} devices on {row.version} go to {cell.column} next "
                f"through {how}")
    if cell.staged and cell.rollout_percent is not None:
        actual = 100 * cell.count / cell.staged_of if cell.staged_of else 0
        text += (f" — staged rollout: {cell.rollout_percent:g}% configured, "
                 f"{exact(cell.count)} of {exact(cell.staged_of)} ({actual:.1f}%) actually staged")
    return text + ". Click to list them."
