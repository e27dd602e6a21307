"""The devices behind one matrix count, in a lazily paged model.

The row count is known up front from the group counts, and rows are fetched a page at a time
as the view asks for them, so 738K devices open at once and scroll smoothly.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ota_desktop.gui.text import exact
from ota_desktop.matrix import Cell
from ota_desktop.store.store import DeviceRow, Store

PAGE_SIZE = 256
MAX_PAGES = 64
DEVICE_ROLE = Qt.ItemDataRole.UserRole + 1
HEADERS = ("Serial", "Current version", "Hardware version", "Staged", "Last seen")
Index = QModelIndex | QPersistentModelIndex


class DeviceListModel(QAbstractTableModel):
    def __init__(self, store: Store, cohort: str, software_type: str, cell: Cell,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self._store = store
        self._cohort = cohort
        self._software_type = software_type
        self._groups = cell.groups
        self._count = sum(g.count for g in cell.groups)
        self._pages: OrderedDict[int, list[DeviceRow]] = OrderedDict()
        self.pages_fetched = 0

    def device(self, row: int) -> DeviceRow | None:
        page_no, offset = divmod(row, PAGE_SIZE)
        page = self._page(page_no)
        return page[offset] if offset < len(page) else None

    def _page(self, page_no: int) -> list[DeviceRow]:
        page = self._pages.get(page_no)
        if page is None:
            page = self._store.devices_in_groups(self._cohort, self._software_type, self._groups,
                                                 offset=page_no * PAGE_SIZE, limit=PAGE_SIZE)
            self.pages_fetched += 1
            self._pages[page_no] = page
            while len(self._pages) > MAX_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_no)
        return page

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, DEVICE_ROLE):
            return None
        device = self.device(index.row())
        if device is None:
            return None
        if role == DEVICE_ROLE:
            return device
        return (device.serial, device.current_version,
                device.attributes.get("hardware_version", ""),
                "yes" if device.staged else "no", device.last_seen or "—")[index.column()]

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return HEADERS[section]
        return section + 1


class DeviceListDialog(QDialog):
    #: a DeviceRow the user wants to look at
    deviceActivated = Signal(object)
    #: serials of the selected devices, to move to another cohort
    moveRequested = Signal(list)

    def __init__(self, store: Store, cohort: str, software_type: str, cell: Cell,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cell = cell
        self.model = DeviceListModel(store, cohort, software_type, cell, self)
        self._setup_ui(cohort)
        self.view.activated.connect(self._on_activated)  # double-click or Enter

    def _setup_ui(self, cohort: str) -> None:
        cell = self.cell
        move = ("stay on it" if cell.column == cell.row else f"go to {cell.column} next")
        self.setWindowTitle(f"Devices on {cell.row} → {cell.column} ({cohort})")
        self.resize(760, 520)
        layout = QVBoxLayout(self)
        self.summary = QLabel(f"{exact(cell.count)} devices in cohort {cohort} on {cell.row} "
                              f"that {move}. Double-click a device for its details.")
        layout.addWidget(self.summary)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        rows = self.view.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row measuring
        rows.setDefaultSectionSize(22)
        self.view.horizontalHeader().setStretchLastSection(True)
        for col, width in enumerate((170, 120, 130, 70)):
            self.view.setColumnWidth(col, width)
        layout.addWidget(self.view)
        self.move_button = QPushButton("&Move selected to cohort…", self)
        self.move_button.clicked.connect(self._on_move_clicked)
        layout.addWidget(self.move_button)

    def selected_serials(self) -> list[str]:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        return [d.serial for d in (self.model.device(r) for r in rows) if d is not None]

    def _on_move_clicked(self) -> None:
        serials = self.selected_serials()
        if serials:
            self.moveRequested.emit(serials)

    def _on_activated(self, index: QModelIndex) -> None:
        device = self.model.device(index.row())
        if device is not None:
            self.deviceActivated.emit(device)
