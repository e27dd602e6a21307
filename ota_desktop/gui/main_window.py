"""The main window: project, cohort and software-type selectors around the version matrix."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPoint, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QWidget,
)

from ota_desktop import NAME
from ota_desktop.changes import Change, DeleteRelease, Resume
from ota_desktop.errors import OtaError
from ota_desktop.gui.activation_dialog import ActivationDialog
from ota_desktop.gui.bundles import BundleMenu
from ota_desktop.gui.cohorts_dialog import CohortsDialog, MoveDevicesDialog
from ota_desktop.gui.controller import ProjectController
from ota_desktop.gui.device_details import DeviceDetailsDialog
from ota_desktop.gui.device_list import DeviceListDialog
from ota_desktop.gui.forms.ui_main_window import Ui_MainWindow
from ota_desktop.gui.guard_banner import PausedBanner
from ota_desktop.gui.history_dialog import HistoryDialog
from ota_desktop.gui.icons import icon
from ota_desktop.gui.keys_dialog import KeysDialog
from ota_desktop.gui.matrix_actions import (
    MatrixAction,
    build_menu,
    column_actions,
    row_actions,
)
from ota_desktop.gui.matrix_model import COLUMN_ROLE, FIXED_COLUMNS, ROW_ROLE
from ota_desktop.gui.matrix_view import MatrixView
from ota_desktop.gui.paths_dialog import PathsDialog
from ota_desktop.gui.release_editor import ReleaseEditor
from ota_desktop.gui.serving import DeviceServer, ServeDialog
from ota_desktop.gui.simulator import SimulatorDialog
from ota_desktop.gui.sync import (
    ConnectDialog,
    SyncController,
    SyncDialog,
    SyncStatusButton,
    describe_report,
)
from ota_desktop.gui.text import abbreviate, exact
from ota_desktop.gui.undo import ChangeCommand
from ota_desktop.matrix import Cell, VersionMatrix
from ota_desktop.model import Configuration, ReleaseRef
from ota_desktop.store.store import DeviceRow
from ota_desktop.sync import mirror
from ota_desktop.sync.client import SyncReport
from ota_desktop.sync.mirror import SyncStatus
from ota_desktop.versions import SCHEME_NAMES

PROJECT_FILTER = "OTA Desktop projects (*.db *.sqlite *.otaproj);;All files (*)"
LAST_PROJECT_KEY = "project/last"


class MainWindow(QMainWindow):
    #: emitted when a matrix is on screen (for tests and status)
    matrixShown = Signal(object)

    def __init__(self, controller: ProjectController | None = None,
                 settings: QSettings | None = None) -> None:
        super().__init__()
        self.controller = controller or ProjectController(self)
        self.settings = settings or QSettings()
        self.ui = Ui_MainWindow()
        self.ui.setupUi(self)
        self.matrix_view = MatrixView(self)
        self.undo_stack = QUndoStack(self)
        self.device_server = DeviceServer(self)
        self.sync = SyncController(self.controller, self)
        self.dialogs: list[QDialog] = []
        self._setup_ui()
        self._connect()

    # --- public API ----------------------------------------------------------------------

    def open_project(self, path: str | Path) -> None:
        self.controller.open_project(path)

    @property
    def matrix(self) -> VersionMatrix | None:
        return self.matrix_view.matrix_model.matrix

    def refresh(self) -> None:
        cohort = self.ui.cohortCombo.currentData()
        software_type = self.ui.softwareTypeCombo.currentText()
        if cohort and software_type:
            self.controller.compute(cohort, software_type)

    def open_cell(self, cell: Cell) -> DeviceListDialog:
        """Show the devices behind a matrix count."""
        matrix = self.matrix
        assert matrix is not None and self.controller.store is not None
        dialog = DeviceListDialog(self.controller.store, matrix.cohort, matrix.software_type,
                                  cell, self)
        dialog.deviceActivated.connect(self.open_device)
        dialog.moveRequested.connect(self.open_move_devices)
        self._keep(dialog)
        return dialog

    def open_device(self, device: DeviceRow) -> DeviceDetailsDialog:
        assert self.controller.store is not None
        dialog = DeviceDetailsDialog(self.controller.store, device, self)
        self._keep(dialog)
        return dialog

    def run_change(self, change: Change) -> bool:
        """Apply an edit and put it on the undo stack; a refused edit shows why."""
        try:
            operation_ids = self.controller.apply(change)
        except OtaError as exc:
            self._on_failed(str(exc))
            return False
        if not operation_ids:
            self.ui.statusBar.showMessage(f"{change.describe()}: nothing changed.", 8000)
            return True
        self.undo_stack.push(ChangeCommand(self.controller, change, operation_ids,
                                           self._on_failed).attach(self.undo_stack))
        self.ui.statusBar.showMessage(f"{change.describe()}: done. Ctrl+Z undoes it.", 8000)
        return True

    def open_activation(self, action: MatrixAction) -> ActivationDialog:
        matrix = self.matrix
        assert matrix is not None and action.ref is not None
        mode = {"activate": "activate", "rollout": "rollout", "pull": "pull",
                "guard": "guard"}[action.kind]
        dialog = ActivationDialog(self.controller, action.ref, matrix.cohort, mode,
                                  percent=action.percent, parent=self)
        dialog.accepted.connect(lambda: self.run_change(dialog.change()))
        self._keep(dialog)
        return dialog

    def open_release_editor(self, *, version: str = "", from_version: str | None = None,
                            delta: bool = False, edit: ReleaseRef | None = None
                            ) -> ReleaseEditor:
        software_type = self.ui.softwareTypeCombo.currentText() or None
        editor = ReleaseEditor(self.controller, version=version, from_version=from_version,
                               delta=delta, software_type=software_type, edit=edit,
                               parent=self)
        editor.accepted.connect(lambda: self.run_change(editor.change()))
        self._keep(editor)
        return editor

    def open_history(self) -> HistoryDialog:
        dialog = HistoryDialog(self.controller, self, self.run_change)
        self._keep(dialog)
        return dialog

    def open_cohorts(self) -> CohortsDialog:
        dialog = CohortsDialog(self.controller, self.run_change, self)
        self._keep(dialog)
        return dialog

    def open_keys(self) -> KeysDialog:
        dialog = KeysDialog(self.controller, self.run_change, self)
        self._keep(dialog)
        return dialog

    def open_paths(self) -> PathsDialog | None:
        matrix = self.matrix
        if matrix is None:
            return None
        dialog = PathsDialog(self.controller, matrix.cohort, matrix.software_type, self)
        self._keep(dialog)
        return dialog

    def open_simulator(self) -> SimulatorDialog:
        dialog = SimulatorDialog(self.controller, self.ui.cohortCombo.currentData(),
                                 self.ui.softwareTypeCombo.currentText() or None, self)
        # the matrix follows the simulated fleet, refreshed at most about three times a second
        dialog.runner.fleetChanged.connect(lambda: self._on_fleet_changed(300))
        self._keep(dialog)
        return dialog

    def open_move_devices(self, serials: list[str]) -> MoveDevicesDialog:
        dialog = MoveDevicesDialog(self.controller, None, self, serials=serials)
        dialog.accepted.connect(lambda: self.run_change(dialog.change()))
        self._keep(dialog)
        return dialog

    def open_connect(self) -> ConnectDialog:
        dialog = ConnectDialog(self, str(self.settings.value("sync/url",
                                                             "http://127.0.0.1:8000")))
        current = mirror.link(self.controller.store) if self.controller.store else None
        if current is not None:
            dialog.fill_from(current)

        def connect() -> None:
            self.settings.setValue("sync/url", dialog.url_edit.text().strip())
            try:
                self.sync.connect_to(dialog.url_edit.text().strip(),
                                     dialog.org_edit.text().strip(),
                                     dialog.project_edit.text().strip(), dialog.credential)
            except OtaError as exc:
                self._on_failed(str(exc))

        dialog.accepted.connect(connect)
        self._keep(dialog)
        return dialog

    def open_sync_status(self) -> SyncDialog:
        dialog = SyncDialog(self.sync, self)
        self._keep(dialog)
        return dialog

    def _on_bundle_imported(self) -> None:
        if self.undo_stack.count():
            # the bundle replaced what the undo steps were made on
            self.undo_stack.clear()
            self._notice = "Undo history cleared: a bundle replaced the project's releases."

    def _on_disconnect(self) -> None:
        try:
            self.sync.disconnect()
        except OtaError as exc:
            self._on_failed(str(exc))

    def _on_sync_status(self, state: SyncStatus) -> None:
        self.sync_action.setEnabled(state.linked)
        self.disconnect_action.setEnabled(state.linked)

    def _on_synced(self, report: SyncReport) -> None:
        message = describe_report(report)
        if report.refreshed and self.undo_stack.count():
            # the mirror now holds the server's rows: local undo steps no longer apply
            self.undo_stack.clear()
            message += " Undo history cleared: the project was refreshed from the server."
            self._notice = message  # shown after the matrix recomputed (its message follows)
        self.ui.statusBar.showMessage(message, 10000)

    def _on_sync_progress(self, what: str, done: int, total: int) -> None:
        if not what:  # the sync ended (or was stopped): take its progress away
            self._on_idle()
            if self.ui.statusBar.currentMessage() == self._sync_message:
                self.ui.statusBar.clearMessage()
            return
        self._sync_message = f"{what}…"
        self._on_progress(self._sync_message, done, total)

    def start_serving(self, host: str = "127.0.0.1", port: int = 8080) -> bool:
        if self.controller.path is None:
            return False
        try:
            self.device_server.start(self.controller.path, host, port)
        except OtaError as exc:
            self._on_failed(str(exc))
            self.ui.actionServe.setChecked(False)
            return False
        self.settings.setValue("serve/port", port)
        return True

    def stop_serving(self) -> None:
        self.device_server.stop()

    def menu_for_cell(self, index: QModelIndex) -> list[MatrixAction]:
        """The actions a matrix cell offers: list its devices, its column's, its row's."""
        matrix, config = self.matrix, self.controller.config
        if matrix is None or config is None or not index.isValid():
            return []
        model = self.matrix_view.matrix_model
        row = model.data(index, ROW_ROLE)
        actions: list[MatrixAction] = []
        cell = model.cell_at(index)
        if cell is not None:
            actions.append(MatrixAction(f"List the {cell.count:,} devices", "list"))
        column = model.data(index, COLUMN_ROLE) if index.column() >= FIXED_COLUMNS else None
        if column is not None:
            actions += column_actions(config, matrix, column)
        if row is not None:
            actions += row_actions(config, matrix, row)
        return actions

    def trigger(self, action: MatrixAction, index: QModelIndex | None = None) -> None:
        if action.kind == "list" and index is not None:
            cell = self.matrix_view.matrix_model.cell_at(index)
            if cell is not None:
                self.open_cell(cell)
        elif action.kind == "create-full":
            self.open_release_editor(version=action.version)
        elif action.kind == "create-delta":
            self.open_release_editor(from_version=action.from_version, delta=True)
        elif action.kind in ("activate", "rollout", "pull", "guard"):
            self.open_activation(action)
        elif action.kind == "resume" and action.ref is not None and self.matrix is not None:
            self.run_change(Resume(action.ref, self.matrix.cohort))
        elif action.kind == "edit" and action.ref is not None:
            self.open_release_editor(edit=action.ref)
        elif action.kind == "delete" and action.ref is not None:
            self.delete_release(action.ref)

    def delete_release(self, ref: ReleaseRef, confirm: bool = True) -> bool:
        change = DeleteRelease(ref)
        if confirm and QMessageBox.question(
                self, NAME, f"{change.describe()}? Its payload records and pulled activations "
                "go with it (Ctrl+Z brings them back).") != QMessageBox.StandardButton.Yes:
            return False
        return self.run_change(change)

    # --- setup ---------------------------------------------------------------------------

    def _setup_ui(self) -> None:
        self.setWindowIcon(icon("app"))
        self.setWindowTitle(NAME)
        self.paused_banner = PausedBanner(self)
        self.paused_banner.resumeRequested.connect(
            lambda ref: self.trigger(MatrixAction("Resume", "resume", ref)))
        self.ui.matrixHostLayout.addWidget(self.paused_banner)
        self.ui.matrixHostLayout.addWidget(self.matrix_view)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setMaximumWidth(260)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.ui.statusBar.addPermanentWidget(self.progress_bar)
        self.serving_label = QLabel(self)
        self.serving_label.setObjectName("servingLabel")
        self.serving_label.hide()
        self.ui.statusBar.addPermanentWidget(self.serving_label)
        self.sync_button = SyncStatusButton(self)
        self._sync_message = ""
        self._notice = ""
        self.ui.statusBar.addPermanentWidget(self.sync_button)
        self.ui.menuProject.addSeparator()
        self.connect_action = self.ui.menuProject.addAction("&Connect to Server…")
        self.sync_action = self.ui.menuProject.addAction("S&ync Now")
        self.sync_action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.sync_status_action = self.ui.menuProject.addAction("Sync &Status…")
        self.disconnect_action = self.ui.menuProject.addAction("&Disconnect from Server")
        self.ui.menuProject.addSeparator()
        self.bundle_menu = BundleMenu(self, self.controller, self.ui.menuProject, self._keep)
        self.bundles = self.bundle_menu.runner
        self.menu_tools = self.ui.menuBar.addMenu("&Tools")
        self.simulator_action = self.menu_tools.addAction("Fleet &Simulator…")
        self._fleet_refresh = QTimer(self, singleShot=True, interval=1000)
        self._fleet_refresh.timeout.connect(self._on_fleet_refresh)
        self.ui.legendLabel.setText(
            "Legend: <b>blue ✓</b> active Full release · <b>hollow</b> Full release not active"
            " · <b>dashed</b> no Full release · <b>flag</b> final target · "
            "<b>Δ</b> active Delta · <b>%</b> staged rollout · <b>paused</b> by its rollout "
            "guard. Click a count to list devices.")
        self.ui.cohortCombo.setEnabled(False)
        self.ui.softwareTypeCombo.setEnabled(False)
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
        self.ui.menuEdit.addAction(undo)
        self.ui.menuEdit.addAction(redo)
        self.undo_action, self.redo_action = undo, redo

    def _connect(self) -> None:
        c = self.controller
        c.opened.connect(self._on_opened)
        c.matrixReady.connect(self._on_matrix_ready)
        c.progress.connect(self._on_progress)
        c.failed.connect(self._on_failed)
        c.idle.connect(self._on_idle)
        self.ui.actionOpen.triggered.connect(self._on_open_triggered)
        self.ui.actionNew.triggered.connect(self._on_new_triggered)
        self.ui.actionRefresh.triggered.connect(self.refresh)
        self.ui.actionQuit.triggered.connect(self.close)
        self.ui.cohortCombo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.ui.softwareTypeCombo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.matrix_view.cellActivated.connect(self._on_cell_activated)
        self.matrix_view.cellMenuRequested.connect(self._on_cell_menu)
        self.matrix_view.columnMenuRequested.connect(self._on_column_menu)
        self.matrix_view.rowMenuRequested.connect(self._on_row_menu)
        self.ui.actionNewRelease.triggered.connect(lambda: self.open_release_editor())
        self.ui.actionNewDelta.triggered.connect(lambda: self.open_release_editor(delta=True))
        self.ui.actionHistory.triggered.connect(self.open_history)
        self.ui.actionCohorts.triggered.connect(self.open_cohorts)
        self.ui.actionKeys.triggered.connect(self.open_keys)
        self.ui.actionPaths.triggered.connect(self.open_paths)
        self.ui.actionServe.triggered.connect(self._on_serve_triggered)
        self.device_server.stateChanged.connect(self._on_serving_changed)
        self.device_server.statsChanged.connect(self._on_serving_stats)
        self.device_server.fleetChanged.connect(self._on_fleet_changed)
        c.changed.connect(self._on_changed)
        self.connect_action.triggered.connect(self.open_connect)
        self.simulator_action.triggered.connect(self.open_simulator)
        self.sync_action.triggered.connect(self.sync.sync_now)
        self.sync_status_action.triggered.connect(self.open_sync_status)
        self.disconnect_action.triggered.connect(self._on_disconnect)
        self.bundles.imported.connect(self._on_bundle_imported)
        self.bundles.finished.connect(lambda m: self.ui.statusBar.showMessage(m, 10000))
        self.sync.statusChanged.connect(self._on_sync_status)
        self.sync_button.clicked.connect(self.open_sync_status)
        self.sync.statusChanged.connect(self.sync_button.show_status)
        self.sync.synced.connect(self._on_synced)
        self.sync.failed.connect(lambda m: self.ui.statusBar.showMessage(m, 10000))
        self.sync.progress.connect(self._on_sync_progress)

    def _keep(self, dialog: QDialog) -> None:
        self.dialogs.append(dialog)
        dialog.finished.connect(lambda _r, d=dialog: self.dialogs.remove(d)
                                if d in self.dialogs else None)
        dialog.show()

    # --- slots ---------------------------------------------------------------------------

    def _on_opened(self, path: str, config: Configuration) -> None:
        if self.settings.value(LAST_PROJECT_KEY) != path:
            self.undo_stack.clear()  # edits of another project cannot be undone here
        self.settings.setValue(LAST_PROJECT_KEY, path)
        self.setWindowTitle(f"{config.project.name} — {Path(path).name} — {NAME}")
        self._fill_selectors(config)

    def _on_changed(self) -> None:
        if self.controller.config is not None:
            self._fill_selectors(self.controller.config)

    def _fill_selectors(self, config: Configuration) -> None:
        """Cohort and software-type choices from ``config``, keeping the current choice."""
        previous_type = self.ui.softwareTypeCombo.currentText()
        previous = self.ui.cohortCombo.currentData()
        for combo in (self.ui.cohortCombo, self.ui.softwareTypeCombo):
            combo.blockSignals(True)
            combo.clear()
        for cohort in config.cohorts:
            label = cohort.name if cohort.name == cohort.slug else f"{cohort.name} ({cohort.slug})"
            self.ui.cohortCombo.addItem(label, cohort.slug)
        self.ui.softwareTypeCombo.addItems(list(config.software_types))
        self.ui.softwareTypeCombo.setCurrentIndex(
            max(self.ui.softwareTypeCombo.findText(previous_type), 0))
        index = self.ui.cohortCombo.findData(previous)
        self.ui.cohortCombo.setCurrentIndex(max(index, 0))
        for combo in (self.ui.cohortCombo, self.ui.softwareTypeCombo):
            combo.blockSignals(False)
            combo.setEnabled(True)
        self.refresh()

    def _on_matrix_ready(self, matrix: VersionMatrix) -> None:
        self.matrix_view.matrix_model.set_matrix(matrix)
        self.paused_banner.show_matrix(matrix)
        staged = [c for r in matrix.rows for c in r.cells.values() if c.staged]
        parts = [f"{abbreviate(matrix.total)} devices ({exact(matrix.total)})",
                 f"{len(matrix.rows)} current version{'s' if len(matrix.rows) != 1 else ''}",
                 "final target " + ", ".join(matrix.final_targets) if matrix.final_targets
                 else "no devices"]
        if staged:
            parts.append(f"{len(staged)} staged rollout{'s' if len(staged) != 1 else ''}")
        self.ui.summaryLabel.setText(" · ".join(parts))
        if self._notice:  # a sync's news outranks "up to date"
            self.ui.statusBar.showMessage(self._notice, 10000)
            self._notice = ""
        else:
            self.ui.statusBar.showMessage(f"Version matrix of {matrix.cohort} / "
                                          f"{matrix.software_type} is up to date.", 5000)
        self.matrixShown.emit(matrix)

    def _on_progress(self, message: str, done: int, total: int) -> None:
        self.progress_bar.show()
        self.progress_bar.setRange(0, total)  # total 0: busy indicator
        if total:
            self.progress_bar.setValue(done)
        self.ui.statusBar.showMessage(message)

    def _on_idle(self) -> None:
        if not self.controller.busy or len(self.controller.runner._tasks) <= 1:
            self.progress_bar.hide()

    def _on_failed(self, message: str) -> None:
        self.ui.statusBar.showMessage(message, 10000)
        QMessageBox.warning(self, NAME, message)

    def _on_cell_activated(self, cell: Cell) -> None:
        self.open_cell(cell)

    def _popup(self, actions: list[MatrixAction], pos: QPoint,
               index: QModelIndex | None = None) -> None:
        if not actions:
            return
        menu = QMenu(self)
        build_menu(menu, actions, lambda a: self.trigger(a, index))
        menu.popup(pos)
        self.last_menu = menu

    def _on_cell_menu(self, index: QModelIndex, pos: QPoint) -> None:
        self._popup(self.menu_for_cell(index), pos, index)

    def _on_column_menu(self, section: int, pos: QPoint) -> None:
        matrix, config = self.matrix, self.controller.config
        column = self.matrix_view.matrix_model.headerData(
            section, Qt.Orientation.Horizontal, COLUMN_ROLE)
        if matrix is not None and config is not None and column is not None:
            self._popup(column_actions(config, matrix, column), pos)

    def _on_row_menu(self, section: int, pos: QPoint) -> None:
        matrix, config = self.matrix, self.controller.config
        if matrix is not None and config is not None and 0 <= section < len(matrix.rows):
            self._popup(row_actions(config, matrix, matrix.rows[section]), pos)

    def _on_serve_triggered(self, checked: bool) -> None:
        if not checked:
            self.stop_serving()
            return
        dialog = ServeDialog(int(self.settings.value("serve/port", 8080)), self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            self.ui.actionServe.setChecked(False)
            return
        self.start_serving(dialog.host, dialog.port)

    def _on_serving_changed(self, url: str) -> None:
        self.ui.actionServe.setChecked(bool(url))
        self.serving_label.setText(f"Serving devices on {url} — 0 check-ins, 0 downloads"
                                   if url else "")
        self.serving_label.setVisible(bool(url))

    def _on_serving_stats(self, checkins: int, downloads: int) -> None:
        self.serving_label.setText(f"Serving devices on {self.device_server.url} — "
                                   f"{checkins:,} check-ins, {downloads:,} downloads")

    def _on_fleet_changed(self, delay_ms: int = 1000) -> None:
        # check-ins moved devices: recompute, at most one matrix computation queued at a time
        if not self._fleet_refresh.isActive():
            self._fleet_refresh.start(delay_ms)

    def _on_fleet_refresh(self) -> None:
        # a rollout guard may have paused a release meanwhile: re-read the configuration too
        if not self.controller.reload_if_changed():
            self.refresh()

    def _on_open_triggered(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", PROJECT_FILTER)
        if path:
            self.open_project(path)

    def _on_new_triggered(self) -> None:
        dialog = NewProjectDialog(self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        path, _ = QFileDialog.getSaveFileName(self, "New project file",
                                              f"{dialog.name}.db", PROJECT_FILTER)
        if path:
            self.controller.create_project(path, dialog.name, dialog.scheme)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.device_server.stop()
        self.sync.shutdown()
        for dialog in list(self.dialogs):
            dialog.close()
        self.controller.shutdown()
        super().closeEvent(event)


class NewProjectDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New project")
        form = QFormLayout(self)
        self.name_edit = QLineEdit("My fleet", self)
        self.scheme_combo = QComboBox(self)
        self.scheme_combo.addItems(list(SCHEME_NAMES))
        form.addRow("&Name:", self.name_edit)
        form.addRow("&Version scheme:", self.scheme_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, parent=self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.name_edit.textChanged.connect(
            lambda text: buttons.button(QDialogButtonBox.StandardButton.Ok)
            .setEnabled(bool(text.strip())))
        form.addRow(buttons)

    @property
    def name(self) -> str:
        return self.name_edit.text().strip()

    @property
    def scheme(self) -> str:
        return self.scheme_combo.currentText()
