"""The version-matrix grid: a table view whose count cells open their device lists."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QPainter
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from ota_desktop.gui.icons import icon
from ota_desktop.gui.matrix_model import COLUMN_ROLE, VersionMatrixModel
from ota_desktop.matrix import Cell, Column


class MatrixHeader(QHeaderView):
    """Column headers that also carry the final-target flag in their top-right corner."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)

    def paintSection(self, painter: QPainter, rect: QRect, logicalIndex: int) -> None:
        painter.save()
        super().paintSection(painter, rect, logicalIndex)
        painter.restore()
        model = self.model()
        column = model.headerData(logicalIndex, Qt.Orientation.Horizontal, COLUMN_ROLE) \
            if model is not None else None
        if isinstance(column, Column) and column.final_target:
            icon("final").paint(painter, QRect(rect.right() - 17, rect.top() + 3, 14, 14))


class MatrixView(QTableView):
    #: a Cell whose devices the user wants to see
    cellActivated = Signal(object)
    #: (QModelIndex, global QPoint): a menu for a cell (also from the keyboard)
    cellMenuRequested = Signal(object, object)
    #: (section, global QPoint): a menu for a column header (a Full release version)
    columnMenuRequested = Signal(int, object)
    #: (section, global QPoint): a menu for a row header (Deltas from that version)
    rowMenuRequested = Signal(int, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.matrix_model = VersionMatrixModel(self)
        self.setModel(self.matrix_model)
        self._setup_ui()
        self.clicked.connect(self._on_clicked)
        self.customContextMenuRequested.connect(self._on_cell_menu)
        self.horizontalHeader().customContextMenuRequested.connect(
            lambda pos: self.columnMenuRequested.emit(
                self.horizontalHeader().logicalIndexAt(pos),
                self.horizontalHeader().mapToGlobal(pos)))
        self.verticalHeader().customContextMenuRequested.connect(
            lambda pos: self.rowMenuRequested.emit(
                self.verticalHeader().logicalIndexAt(pos),
                self.verticalHeader().mapToGlobal(pos)))

    def _setup_ui(self) -> None:
        self.setObjectName("versionMatrix")
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setIconSize(QSize(16, 16))
        self.setMouseTracking(True)
        self.setCornerButtonEnabled(False)
        self.setWordWrap(False)
        self.setHorizontalHeader(MatrixHeader(self))
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(84)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        header.setMinimumHeight(30)
        rows = self.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(34)
        rows.setMinimumWidth(70)
        self.setAccessibleName("Version matrix")
        for widget in (self, self.horizontalHeader(), self.verticalHeader()):
            widget.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self._on_clicked(self.currentIndex())
            return
        menu_key = event.key() == Qt.Key.Key_Menu or (
            event.key() == Qt.Key.Key_F10
            and event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if menu_key and self.currentIndex().isValid():
            self._on_cell_menu(self.visualRect(self.currentIndex()).center())
            return
        super().keyPressEvent(event)

    def _on_cell_menu(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        if index.isValid():
            self.cellMenuRequested.emit(index, self.viewport().mapToGlobal(pos))

    def _on_clicked(self, index: QModelIndex) -> None:
        cell = self.matrix_model.cell_at(index)
        if isinstance(cell, Cell) and cell.count > 0:
            self.cellActivated.emit(cell)
