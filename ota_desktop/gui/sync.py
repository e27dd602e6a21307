"""Sync from the window: connect a project to a server, a status indicator (synced /
pending N / offline / conflict), a sync every 30 s and on demand, and the dialogs that show
queued edits and conflicts with both versions.

The network runs in httpx.AsyncClient on the window's qasync loop and the mirror writes in
the sync client's own worker thread, so pulling a 1M-device fleet never freezes the window.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ota_desktop.errors import OtaError
from ota_desktop.gui.controller import ProjectController, busy_as_error
from ota_desktop.gui.widgets import error_label
from ota_desktop.model import ReleaseRef
from ota_desktop.sync import mirror
from ota_desktop.sync.client import Offline, SyncClient, SyncReport
from ota_desktop.sync.mirror import OutboxItem, SyncStatus

AUTO_SYNC_MS = 30_000


class SyncController(QObject):
    statusChanged = Signal(object)  # SyncStatus
    #: a sync finished; the report says what it brought
    synced = Signal(object)
    progress = Signal(str, int, int)
    failed = Signal(str)

    def __init__(self, controller: ProjectController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.offline = False
        self.task: asyncio.Task[Any] | None = None
        self._again = False  # asked for while one ran: run once more when it ends
        self._client: SyncClient | None = None
        self.timer = QTimer(self, interval=AUTO_SYNC_MS)
        self.timer.timeout.connect(self.sync_now)
        controller.opened.connect(lambda _path, _config: self._on_project())
        controller.changed.connect(self.emit_status)

    # --- state ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def status(self) -> SyncStatus:
        store = self.controller.store
        if store is None:
            return SyncStatus(False)
        return dataclasses.replace(mirror.status(store, self.offline), syncing=self.running)

    def emit_status(self) -> None:
        self.statusChanged.emit(self.status())

    def _on_project(self) -> None:
        self._stop_running()
        self.offline = False
        if self.status().linked:
            self.timer.start()
            self.sync_now()
        else:
            self.timer.stop()
        self.emit_status()

    # --- actions -------------------------------------------------------------------------

    def connect_to(self, url: str, org: str, project: str, credential: str) -> None:
        store = self.controller.store
        if store is None:
            raise OtaError("Open or create a project first.")
        self._stop_running()
        with busy_as_error():
            mirror.connect(store, url, org, project, credential)
        self.offline = False
        self.timer.start()
        self.emit_status()
        self.sync_now()

    def disconnect(self) -> None:
        """Stop syncing (the running sync is cancelled first, the timer too, even if the
        file is too busy to record it; then the user is told to try again)."""
        self._stop_running()
        self.timer.stop()
        try:
            if self.controller.store is not None:
                with busy_as_error():
                    mirror.disconnect(self.controller.store)
        finally:
            self.emit_status()

    def resolve(self, item_id: int, keep: str) -> None:
        assert self.controller.store is not None
        with busy_as_error():
            mirror.resolve(self.controller.store, item_id, keep)  # type: ignore[arg-type]
        self.emit_status()
        self.sync_now()

    def sync_now(self) -> asyncio.Task[Any] | None:
        """Start a sync; while one runs, another follows it (so an edit or a resolved
        conflict made meanwhile goes up at once, not at the next timer tick)."""
        if self.running:
            self._again = True
            return self.task
        store = self.controller.store
        if store is None or not self.status().linked or store.path is None:
            return None
        if self._client is None or self._client.path != store.path:
            self._retire_client()
            self._client = SyncClient(store.path)
        self._again = False
        self.task = asyncio.ensure_future(self._sync(self._client))
        self.emit_status()
        return self.task

    async def _sync(self, client: SyncClient) -> None:
        try:
            report = await client.sync(self.progress.emit)
        except Offline as exc:
            self.offline = True
            self.failed.emit(str(exc))
        except OtaError as exc:
            self.offline = False
            self.failed.emit(f"Sync failed: {exc}")
        else:
            self.offline = False
            if report.refreshed or report.devices:
                self.controller.reload()
            self.synced.emit(report)
        finally:
            self.progress.emit("", 1, 1)
            if self.task is asyncio.current_task():
                self.task = None
            self.emit_status()
        if self._again and client is self._client:
            self.sync_now()

    def shutdown(self) -> None:
        self.timer.stop()
        self._stop_running()

    def _stop_running(self) -> None:
        """Cancel a running sync (its client closes when it has stopped) and forget the
        client, so the next sync starts fresh on the current project and link."""
        if self.running:
            assert self.task is not None
            self.task.cancel()
        self.task = None
        self._again = False
        self._retire_client()

    def _retire_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close(wait=False)  # the worker finishes its step, then closes


class SyncStatusButton(QToolButton):
    """The status bar's indicator; a click opens the sync dialog."""

    COLOURS = {"Synced": "#2e7d32", "Pending": "#1565c0", "Offline": "#757575",
               "Conflict": "#c62828", "Sync": "#c62828", "Local": "#757575",
               "Not": "#1565c0", "Disconnected": "#757575", "Syncing…": "#1565c0"}

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("syncStatusButton")
        self.setAutoRaise(True)
        self.show_status(SyncStatus(False))

    def show_status(self, state: SyncStatus) -> None:
        colour = self.COLOURS.get(state.label.split(" ")[0], "#757575")
        self.setText(f"● {state.label}")
        self.setStyleSheet(f"QToolButton {{ color: {colour}; font-weight: bold; }}")
        tip = [f"Last synced: {state.last_sync_at}" if state.last_sync_at else "Never synced"]
        if state.last_error:
            tip.append(f"Last problem: {state.last_error}")
        self.setToolTip("\n".join(tip) if state.linked else
                        "This project is not connected to a server (Project → Connect to "
                        "Server…).")
        self.setAccessibleName(f"Sync status: {state.label}")


class ConnectDialog(QDialog):
    """Server address and credentials (an org auth token, or a user and password)."""

    def __init__(self, parent: QWidget | None = None, url: str = "http://127.0.0.1:8000"
                 ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to Server")
        self.url_edit = QLineEdit(url, self)
        self.org_edit = QLineEdit("local", self)
        self.project_edit = QLineEdit("local", self)
        self.kind_combo = QComboBox(self)
        self.kind_combo.addItems(["Organization auth token", "User and password"])
        self.token_edit = QLineEdit(self)
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("oat_…")
        self.user_edit = QLineEdit(self)
        self.password_edit = QLineEdit(self)
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow("Server &address:", self.url_edit)
        form.addRow("&Organization:", self.org_edit)
        form.addRow("&Project:", self.project_edit)
        form.addRow("Sign in &with:", self.kind_combo)
        form.addRow("&Token:", self.token_edit)
        form.addRow("&User:", self.user_edit)
        form.addRow("Pass&word:", self.password_edit)
        note = QLabel("On the first sync this file's releases, cohorts and fleet are replaced "
                      "by the server's; edits you make while offline are queued and sent "
                      "later.", self)
        note.setWordWrap(True)
        self.error = error_label(self)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.connect_button = self.buttons.addButton(
            "&Connect", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.kind_combo.currentIndexChanged.connect(self._on_kind)
        self._form = form
        self._on_kind()

    def fill_from(self, current: mirror.Link) -> None:
        """Reconnecting: this project's own server, organization, project and user."""
        self.url_edit.setText(current.url)
        self.org_edit.setText(current.org)
        self.project_edit.setText(current.project)
        if not current.credential.startswith("oat_"):
            self.kind_combo.setCurrentIndex(1)
            self.user_edit.setText(current.credential.partition(":")[0])

    def _on_kind(self) -> None:
        self.error.clear()
        token = self.kind_combo.currentIndex() == 0
        for widget, show in ((self.token_edit, token), (self.user_edit, not token),
                             (self.password_edit, not token)):
            self._form.setRowVisible(widget, show)

    @property
    def credential(self) -> str:
        if self.kind_combo.currentIndex() == 0:
            return self.token_edit.text().strip()
        return f"{self.user_edit.text().strip()}:{self.password_edit.text()}"

    def problem(self) -> str:
        try:
            mirror.check_url(self.url_edit.text())
        except OtaError as exc:
            return str(exc)
        if not self.org_edit.text().strip() or not self.project_edit.text().strip():
            return "Name the organization and project (any text for an OTA Desktop server)."
        token = self.token_edit.text().strip()
        if self.kind_combo.currentIndex() == 0 and (not token.startswith("oat_")
                                                    or len(token) < 12):
            return "An organization auth token starts with oat_ (paste the whole token)."
        if self.kind_combo.currentIndex() == 1 and (not self.user_edit.text().strip()
                                                    or not self.password_edit.text()):
            return "Enter the user name and password."
        return ""

    def _accept(self) -> None:
        problem = self.problem()
        self.error.setText(problem)
        if not problem:
            self.accept()


def _change_text(change: dict[str, Any]) -> str:
    lines = []
    for key, value in change.items():
        if key == "type" or value in (None, "", [], ()):
            continue
        if key == "ref" and isinstance(value, dict):
            value = ReleaseRef(**value)
            lines.append(f"release: {value.software_type} {value.label}")
            continue
        lines.append(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines)


class ConflictDialog(QDialog):
    """One queued edit the server did not take: both versions side by side, and a choice."""

    def __init__(self, item: OutboxItem, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item = item
        self.choice = ""
        conflict = item.state == "conflict"
        self.setWindowTitle("Sync Conflict" if conflict else "Edit Refused by the Server")
        detail = item.detail or {}
        headline = QLabel(
            f"<b>{item.description}</b> — "
            + ("changed on the server since you made this edit." if conflict
               else "the server refused it."), self)
        headline.setWordWrap(True)
        mine = QPlainTextEdit(_change_text(item.change), self)
        mine.setObjectName("mineText")
        mine.setReadOnly(True)
        theirs_lines = []
        for c in detail.get("server", {}).get("changes", []):
            theirs_lines.append(f"{c['kind']} by {c['actor'] or 'a token'} at {c['at']}")
            if isinstance(c.get("after"), dict):
                theirs_lines += [f"  {k}: {json.dumps(v, ensure_ascii=False)}"
                                 for k, v in c["after"].items() if k != "ref"]
        if not conflict:
            theirs_lines.append(str(detail.get("message", "")))
        theirs = QPlainTextEdit("\n".join(theirs_lines), self)
        theirs.setObjectName("theirsText")
        theirs.setReadOnly(True)
        sides = QHBoxLayout()
        for title, widget in (("Your edit (queued on this desktop)", mine),
                              ("On the server" if conflict else "The server's answer", theirs)):
            box = QGroupBox(title, self)
            QVBoxLayout(box).addWidget(widget)
            sides.addWidget(box)
        self.buttons = QDialogButtonBox(self)
        self.keep_mine = self.buttons.addButton(
            "Keep &mine" if conflict else "&Send again", QDialogButtonBox.ButtonRole.AcceptRole)
        self.keep_theirs = self.buttons.addButton(
            "Keep the &server's" if conflict else "&Discard my edit",
            QDialogButtonBox.ButtonRole.DestructiveRole)
        self.buttons.addButton("Decide &later", QDialogButtonBox.ButtonRole.RejectRole)
        self.keep_mine.clicked.connect(lambda: self._choose("mine"))
        self.keep_theirs.clicked.connect(lambda: self._choose("theirs"))
        self.buttons.rejected.connect(self.reject)
        explain = QLabel("Keep mine sends your edit again over the server's version; keep the "
                         "server's discards your queued edit (it is kept in the sync record: "
                         "ota-desktop sync status --all).", self)
        explain.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(headline)
        layout.addLayout(sides)
        layout.addWidget(explain)
        layout.addWidget(self.buttons)
        self.resize(760, 360)

    def _choose(self, keep: str) -> None:
        self.choice = keep
        self.accept()


class SyncDialog(QDialog):
    """The link, the queued edits and their states; resolve conflicts from here."""

    def __init__(self, sync: SyncController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sync = sync
        self.setWindowTitle("Sync")
        self.link_label = QLabel(self)
        self.link_label.setWordWrap(True)
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(["State", "Edit", "Made at"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.doubleClicked.connect(lambda _i: self.resolve_selected())
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.sync_button = QPushButton("Sync &Now", self)
        self.resolve_button = QPushButton("&Resolve…", self)
        self.discard_button = QPushButton("&Discard Edit…", self)
        self.discard_button.setToolTip("Drop the selected queued edit; the next sync shows the "
                                       "server's version (the edit stays listed as discarded).")
        self.sync_button.clicked.connect(self.sync.sync_now)
        self.resolve_button.clicked.connect(self.resolve_selected)
        self.discard_button.clicked.connect(lambda: self.discard_selected())
        row = QHBoxLayout()
        row.addWidget(self.sync_button)
        row.addWidget(self.resolve_button)
        row.addWidget(self.discard_button)
        row.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.link_label)
        layout.addWidget(self.table)
        layout.addLayout(row)
        layout.addWidget(close)
        self.items: list[OutboxItem] = []
        self.conflict_dialog: ConflictDialog | None = None
        sync.statusChanged.connect(lambda _s: self.reload())
        self.resize(720, 380)
        self.reload()

    def reload(self) -> None:
        store = self.sync.controller.store
        current = mirror.link(store) if store is not None else None
        state = self.sync.status()
        if current is None:
            self.link_label.setText("This project is not connected to a server.")
        else:
            self.link_label.setText(
                f"<b>{state.label}</b> — {current.url} (organization {current.org}, project "
                f"{current.project}); last synced {current.last_sync_at or 'never'}"
                + (f"<br>Last problem: {current.last_error}" if current.last_error else ""))
        selected = self.selected_item()
        self.items = mirror.outbox(store) if store is not None else []
        self.table.setRowCount(len(self.items))
        for r, item in enumerate(self.items):
            for c, text in enumerate((item.state, item.description, item.created_at[:19])):
                cell = QTableWidgetItem(text)
                if item.state in ("conflict", "refused"):
                    cell.setForeground(Qt.GlobalColor.darkRed)
                self.table.setItem(r, c, cell)
        # keep the selection on the same edit (rows shift as edits go up)
        again = next((r for r, i in enumerate(self.items)
                      if selected is not None and i.id == selected.id), None)
        if again is None and self.items:
            again = next((r for r, i in enumerate(self.items)
                          if i.state in ("conflict", "refused")), 0)
        if again is not None:
            self.table.selectRow(again)
        else:
            self.table.clearSelection()
        self.sync_button.setEnabled(state.linked)
        self._on_selection()

    def selected_item(self) -> OutboxItem | None:
        row = self.table.currentRow()
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        if not 0 <= row < len(self.items) or row not in rows:
            return None
        return self.items[row]

    def _on_selection(self) -> None:
        item = self.selected_item()
        self.resolve_button.setEnabled(item is not None and
                                       item.state in ("conflict", "refused"))
        self.discard_button.setEnabled(item is not None)

    def discard_selected(self, confirm: bool = True) -> bool:
        item = self.selected_item()
        if item is None:
            return False
        if confirm and QMessageBox.question(
                self, "Discard Edit", f"Discard “{item.description}”? It will not be sent; "
                "the next sync shows the server's version.") \
                != QMessageBox.StandardButton.Yes:
            return False
        return self._resolve(item.id, "theirs")

    def _resolve(self, item_id: int, keep: str) -> bool:
        try:
            self.sync.resolve(item_id, keep)
        except OtaError as exc:  # being sent right now, resolved already, or the file busy
            QMessageBox.information(self, "Sync", str(exc))
            self.reload()
            return False
        return True

    def resolve_selected(self) -> ConflictDialog | None:
        item = self.selected_item()
        if item is None or item.state not in ("conflict", "refused"):
            return None
        dialog = ConflictDialog(item, self)
        self.conflict_dialog = dialog
        dialog.accepted.connect(lambda: self._resolve(dialog.item.id, dialog.choice))
        dialog.open()
        return dialog


def describe_report(report: SyncReport) -> str:
    parts = [f"sent {report.pushed} edit(s)"]
    if report.conflicts:
        parts.append("1 needs your decision (click the sync status)")
    if report.refreshed:
        parts.append("releases and cohorts refreshed")
    if report.devices:
        parts.append(f"{report.devices:,} device update(s)")
    return "Synced: " + ", ".join(parts) + "."
