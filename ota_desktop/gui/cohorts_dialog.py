"""Cohorts: the active releases and software distribution of each, create and edit them, and
move devices between them (pasted or CSV serials, with unknown ones counted)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ota_desktop.changes import Change, CreateCohort, MoveDevices, UpdateCohort
from ota_desktop.cli_edits import read_serials, read_text_file
from ota_desktop.gui.controller import ProjectController
from ota_desktop.gui.widgets import error_label
from ota_desktop.model import Cohort

DISTRIBUTION_ROLE = Qt.ItemDataRole.UserRole + 1
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SEGMENT_HUES = (210, 140, 30, 280, 0, 180, 60, 320)
RunChange = Callable[[Change], bool]


class DistributionDelegate(QStyledItemDelegate):
    """A stacked bar of the cohort's versions, largest first."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        parts = index.data(DISTRIBUTION_ROLE) or []
        total = sum(n for _, n in parts)
        rect = option.rect.adjusted(4, 6, -4, -6)
        if not total or rect.width() <= 0:
            return
        painter.save()
        x = rect.left()
        for i, (_version, count) in enumerate(parts):
            width = round(rect.width() * count / total) if i < len(parts) - 1 \
                else rect.right() - x + 1
            painter.fillRect(QRect(x, rect.top(), max(width, 1), rect.height()),
                             QColor.fromHsv(_SEGMENT_HUES[i % len(_SEGMENT_HUES)], 140, 220))
            x += width
        painter.restore()


class CohortsDialog(QDialog):
    def __init__(self, controller: ProjectController, run_change: RunChange,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.run_change = run_change
        self.setWindowTitle("Cohorts")
        self.resize(980, 360)
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, 7, self)
        self.table.setHorizontalHeaderLabels(["Cohort", "Devices", "Active releases",
                                              "Software distribution", "Version checking",
                                              "Protected", "Polling"])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setItemDelegateForColumn(3, DistributionDelegate(self.table))
        self.table.setColumnWidth(3, 240)
        self.table.verticalHeader().hide()
        layout.addWidget(self.table)
        row = QHBoxLayout()
        self.new_button = QPushButton("&New cohort…", self)
        self.edit_button = QPushButton("&Edit…", self)
        self.move_button = QPushButton("&Move devices…", self)
        for b in (self.new_button, self.edit_button, self.move_button):
            row.addWidget(b)
        row.addStretch()
        layout.addLayout(row)
        self.new_button.clicked.connect(lambda: self.open_editor(None))
        self.edit_button.clicked.connect(lambda: self.open_editor(self.selected()))
        self.move_button.clicked.connect(lambda: self.open_move(self.selected()))
        self.table.doubleClicked.connect(lambda _i: self.open_editor(self.selected()))
        controller.changed.connect(self.reload)
        self.reload()

    def selected(self) -> Cohort | None:
        rows = self.table.selectionModel().selectedRows()
        config = self.controller.config
        if not rows or config is None:
            return None
        return config.cohorts[rows[0].row()]

    def open_editor(self, cohort: Cohort | None) -> CohortEditor:
        editor = CohortEditor(self.controller, cohort, self)
        editor.accepted.connect(lambda: self.run_change(editor.change()))
        editor.show()
        self.editor = editor
        return editor

    def open_move(self, cohort: Cohort | None) -> MoveDevicesDialog:
        dialog = MoveDevicesDialog(self.controller, cohort.slug if cohort else None, self)
        dialog.accepted.connect(lambda: self.run_change(dialog.change()))
        dialog.show()
        self.mover = dialog
        return dialog

    def reload(self) -> None:
        store, config = self.controller.store, self.controller.config
        if store is None or config is None:
            return
        distribution = store.distribution()
        self.table.setRowCount(len(config.cohorts))
        for r, cohort in enumerate(config.cohorts):
            active = [
                (f"Δ {a.release.from_version}→{a.release.to_version}" if a.release.is_delta
                 else str(a.release.version))
                + (f" ({a.rollout_percent:g}%)" if a.kind == "staged" else "")
                + (" paused" if a.paused else "")
                for a in config.activations_in(cohort.slug) if a.status == "active"]
            parts = distribution.get(cohort.slug, [])
            total = sum(n for _, n in parts)
            name = cohort.name if cohort.name == cohort.slug else f"{cohort.name} ({cohort.slug})"
            values = [name + (" — default" if cohort.is_default else ""), f"{total:,}",
                      ", ".join(active) or "none", "",
                      "disabled" if cohort.disable_version_checking else "on",
                      "yes" if cohort.protected else "no", f"{cohort.polling_interval_s} s"]
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                if c == 3:
                    item.setData(DISTRIBUTION_ROLE, parts)
                    item.setToolTip("\n".join(f"{v}: {n:,} ({100 * n / total:.1f}%)"
                                              for v, n in parts) if total else "no devices")
                self.table.setItem(r, c, item)
        self.table.resizeColumnToContents(0)
        self.table.resizeColumnToContents(2)


class CohortEditor(QDialog):
    def __init__(self, controller: ProjectController, cohort: Cohort | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.cohort = cohort
        self.setWindowTitle("Edit cohort" if cohort else "New cohort")
        form = QFormLayout(self)
        self.slug_edit = QLineEdit(cohort.slug if cohort else "", self)
        self.slug_edit.setEnabled(cohort is None)
        self.name_edit = QLineEdit(cohort.name if cohort else "", self)
        self.dvc_check = QCheckBox("&Disable version checking (allows downgrades)", self)
        self.protected_check = QCheckBox("&Protected (only managers change activations)", self)
        self.polling_spin = QSpinBox(self)
        self.polling_spin.setRange(1, 7 * 86400)
        self.polling_spin.setSuffix(" s")
        self.dvc_check.setChecked(bool(cohort and cohort.disable_version_checking))
        self.protected_check.setChecked(cohort.protected if cohort else True)
        self.polling_spin.setValue(cohort.polling_interval_s if cohort else 3600)
        form.addRow("&Slug:", self.slug_edit)
        form.addRow("&Name:", self.name_edit)
        form.addRow("", self.dvc_check)
        form.addRow("", self.protected_check)
        form.addRow("&Polling interval:", self.polling_spin)
        self.error_label = error_label(self)
        form.addRow(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel, parent=self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.slug_edit.textChanged.connect(self._validate)
        self.name_edit.textChanged.connect(self._validate)
        self._validate()

    @property
    def ok_button(self):  # noqa: ANN201 - a QPushButton
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def change(self) -> Change:
        name = self.name_edit.text().strip()
        if self.cohort is None:
            return CreateCohort(self.slug_edit.text().strip(), name,
                                self.dvc_check.isChecked(), self.protected_check.isChecked(),
                                self.polling_spin.value())
        return UpdateCohort(self.cohort.slug, name=name or None,
                            disable_version_checking=self.dvc_check.isChecked(),
                            protected=self.protected_check.isChecked(),
                            polling_interval_s=self.polling_spin.value())

    def _validate(self) -> None:
        problem = ""
        slug = self.slug_edit.text().strip()
        config = self.controller.config
        if self.cohort is None:
            if not SLUG.match(slug):
                problem = ("A slug is 1–64 lowercase letters, digits, - or _, starting with a "
                           "letter or digit.")
            elif config is not None and config.cohort(slug) is not None:
                problem = f"A cohort {slug!r} already exists."
        elif not self.name_edit.text().strip():
            problem = "A cohort's name cannot be empty."
        self.error_label.setText(problem)
        self.ok_button.setEnabled(not problem)


class MoveDevicesDialog(QDialog):
    def __init__(self, controller: ProjectController, cohort: str | None,
                 parent: QWidget | None = None, serials: list[str] | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Move devices")
        self.resize(520, 420)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.cohort_combo = QComboBox(self)
        for c in controller.config.cohorts if controller.config else ():
            self.cohort_combo.addItem(c.name if c.name == c.slug else f"{c.name} ({c.slug})",
                                      c.slug)
        if cohort:
            self.cohort_combo.setCurrentIndex(max(self.cohort_combo.findData(cohort), 0))
        form.addRow("&To cohort:", self.cohort_combo)
        layout.addLayout(form)
        layout.addWidget(QLabel("Serials, one a line (paste, or load a CSV whose first column "
                                "is the serial):"))
        self.serials_edit = QPlainTextEdit("\n".join(serials or []), self)
        layout.addWidget(self.serials_edit)
        self.load_button = QPushButton("&Load file…", self)
        layout.addWidget(self.load_button)
        self.count_label = QLabel(self)
        self.count_label.setWordWrap(True)
        layout.addWidget(self.count_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel, parent=self)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Move")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.serials_edit.textChanged.connect(self._count)
        self.cohort_combo.currentIndexChanged.connect(self._count)
        self.load_button.clicked.connect(self._on_load)
        self._count()

    def serials(self) -> list[str]:
        return list(dict.fromkeys(read_serials(self.serials_edit.toPlainText())))

    def change(self) -> MoveDevices:
        return MoveDevices(tuple(self.serials()), self.cohort_combo.currentData())

    def load(self, path: Path) -> None:
        self.serials_edit.setPlainText(read_text_file(path))

    def _on_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Serials file", "",
                                              "CSV or text (*.csv *.txt);;All files (*)")
        if path:
            self.load(Path(path))

    def _count(self) -> None:
        serials = self.serials()
        store = self.controller.store
        found = store.devices_by_serial(serials) if store is not None else {}
        target = self.cohort_combo.currentData()
        already = sum(d.cohort == target for d in found.values())
        known = len(found) - already
        unknown = [s for s in serials if s not in found]
        text = f"{len(serials):,} serial(s): {known:,} to move"
        if already:
            text += f", {already:,} already in {target}"
        if unknown:
            text += f", {len(unknown):,} unknown ({', '.join(unknown[:5])}" + (
                ", …)" if len(unknown) > 5 else ")") + " — unknown serials are not moved"
        self.count_label.setText(text + ".")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(known > 0)
