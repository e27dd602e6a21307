"""Create a Full (or must-pass-through) release, or a Delta release, with its payloads.

Versions are checked live by the project's scheme; payload files are hashed and stored in
the background with a progress bar, added by file dialog or by dropping them on the dialog.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
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
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ota_desktop.artifacts import ArtifactStore, StoredArtifact, artifact_root
from ota_desktop.changes import CreateRelease, EditRelease, NewPayload
from ota_desktop.errors import BadInput, InvalidVersion, NotFound, OtaError
from ota_desktop.gui.controller import ProjectController
from ota_desktop.gui.widgets import error_label
from ota_desktop.model import DeltaRelease, Release, ReleaseRef, ref_of

FILE, SIZE, SHA256, HARDWARE, ATTRIBUTES = range(5)


class ReleaseEditor(QDialog):
    """``from_version`` given (or ``delta=True``): a Delta release editor."""

    #: a payload file finished hashing (for tests and status)
    payloadAdded = Signal(object)

    def __init__(self, controller: ProjectController, *, version: str = "",
                 from_version: str | None = None, delta: bool = False,
                 software_type: str | None = None, edit: ReleaseRef | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.editing: Release | DeltaRelease | None = None
        if edit is not None and controller.config is not None:
            self.editing = controller.config.find_release(edit)
            if self.editing is None:
                raise NotFound("That release does not exist (any more).")
            software_type = edit.software_type
            version = edit.to_version if edit.is_delta else str(edit.version)
            from_version = edit.from_version
        self.delta = delta or from_version is not None
        self.artifacts: list[StoredArtifact] = []
        self.existing_rows = 0
        self.hashing = 0
        self.file_error = ""  # the last payload file that could not be added, and why
        self._cancel = threading.Event()
        self.setAcceptDrops(True)
        self._setup_ui(version or "", from_version or "", software_type)
        if self.editing is not None:
            self._show_existing(self.editing)
        controller.changed.connect(self._validate)  # another window may have changed things
        self.finished.connect(lambda _r: self._cancel.set())  # stop hashing on close
        self._validate()

    # --- public API ----------------------------------------------------------------------

    def change(self) -> CreateRelease | EditRelease:
        payloads = []
        for i, artifact in enumerate(self.artifacts):
            row = self.existing_rows + i
            payloads.append(NewPayload(
                artifact.filename, artifact.size, artifact.sha256, artifact.sha1, artifact.md5,
                {"hardware_version": self._cell(row, HARDWARE),
                 **_parse_attributes(self._cell(row, ATTRIBUTES))}))
        if self.editing is not None:
            old = self.editing
            revision = self.revision_edit.text().strip()
            notes = self.notes_edit.toPlainText().strip()
            mpt = self.mpt_check.isChecked()
            return EditRelease(
                ref_of(old),
                must_pass_through=None if isinstance(old, DeltaRelease)
                or mpt == old.must_pass_through else mpt,
                revision=None if revision == old.revision else revision,
                notes=None if notes == old.notes else notes,
                payloads=tuple(payloads))
        return CreateRelease(
            software_type=self.software_type_combo.currentText(),
            version=self.version_edit.text().strip(),
            from_version=self.from_edit.text().strip() if self.delta else None,
            must_pass_through=self.mpt_check.isChecked(),
            revision=self.revision_edit.text().strip(),
            notes=self.notes_edit.toPlainText().strip(),
            payloads=tuple(payloads),
        )

    def add_files(self, paths: list[Path]) -> asyncio.Task[None]:
        """Hash and store files in the background; the rows appear when each is done."""
        return self.controller.runner.spawn(self._add_files(paths))

    @property
    def ok_button(self):  # noqa: ANN201 - a QPushButton
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    # --- setup ---------------------------------------------------------------------------

    def _show_existing(self, release: Release | DeltaRelease) -> None:
        """Existing payloads as read-only rows; prefilled fields; version fixed."""
        self.setWindowTitle(f"Edit {release.label}")
        self.ok_button.setText("&Save")
        for widget in (self.software_type_combo, self.version_edit, self.from_edit):
            widget.setEnabled(False)
        self.revision_edit.setText(release.revision)
        self.notes_edit.setPlainText(release.notes)
        if isinstance(release, Release):
            self.mpt_check.setChecked(release.must_pass_through)
        self.payload_table.blockSignals(True)
        for payload in release.payloads:
            row = self.payload_table.rowCount()
            self.payload_table.insertRow(row)
            attrs = dict(payload.attributes)
            values = (payload.filename, f"{payload.size:,}", (payload.sha256[:16] + "…")
                      if payload.sha256 else "—", attrs.pop("hardware_version", ""),
                      ", ".join(f"{k}={v}" for k, v in sorted(attrs.items())))
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.payload_table.setItem(row, col, item)
        self.existing_rows = self.payload_table.rowCount()
        self.payload_table.blockSignals(False)
        self.revision_edit.textChanged.connect(self._validate)
        self.notes_edit.textChanged.connect(self._validate)
        self.mpt_check.toggled.connect(self._validate)

    def _signing_note(self) -> str:
        """Whether payloads added here will be signed (a project with a key signs only while
        the key is unlocked for the session)."""
        store = self.controller.store
        if store is None or not store.db.execute("SELECT 1 FROM signing_key").fetchone():
            return ""
        if self.controller.signer is not None:
            return "Payloads you add are signed with the project key (unlocked)."
        return ("The project's signing key is locked: payloads added now are not signed "
                "(Project → Signing Key… → Unlock, or sign them later).")

    def _setup_ui(self, version: str, from_version: str, software_type: str | None) -> None:
        self.setWindowTitle("New Delta release" if self.delta else "New Full release")
        self.resize(720, 520)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.software_type_combo = QComboBox(self)
        config = self.controller.config
        self.software_type_combo.addItems(list(config.software_types) if config else ["main"])
        if software_type:
            self.software_type_combo.setCurrentText(software_type)
        form.addRow("&Software type:", self.software_type_combo)
        self.from_edit = QLineEdit(from_version, self)
        self.version_edit = QLineEdit(version, self)
        if self.delta:
            form.addRow("&From version:", self.from_edit)
            form.addRow("&To version:", self.version_edit)
        else:
            form.addRow("&Version:", self.version_edit)
        self.version_error = error_label(self, "versionError", bold=False)
        form.addRow("", self.version_error)
        self.mpt_check = QCheckBox("&Must pass through (devices below it stop here first)", self)
        self.mpt_check.setVisible(not self.delta)
        if not self.delta:
            form.addRow("", self.mpt_check)
        self.revision_edit = QLineEdit(self)
        self.revision_edit.setPlaceholderText("VCS commit, e.g. the output of git rev-parse HEAD")
        form.addRow("&Revision:", self.revision_edit)
        self.notes_edit = QPlainTextEdit(self)
        self.notes_edit.setMaximumHeight(70)
        form.addRow("&Notes:", self.notes_edit)
        layout.addLayout(form)

        layout.addWidget(QLabel("Payloads (drop files here; each needs a hardware version):"))
        self.payload_table = QTableWidget(0, 5, self)
        self.payload_table.setHorizontalHeaderLabels(
            ["File", "Size", "sha256", "Hardware version", "Other attributes (k=v, …)"])
        self.payload_table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.payload_table)
        self.signing_note = QLabel(self)
        self.signing_note.setObjectName("signingNote")
        self.signing_note.setWordWrap(True)
        self.signing_note.setText(self._signing_note())
        self.signing_note.setVisible(bool(self.signing_note.text()))
        layout.addWidget(self.signing_note)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add &file…", self)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.hide()
        row.addWidget(self.add_button)
        row.addWidget(self.progress_bar)
        row.addStretch()
        layout.addLayout(row)
        self.error_label = error_label(self)
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel, parent=self)
        self.ok_button.setText("&Create")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.add_button.clicked.connect(self._on_add_clicked)
        for edit in (self.version_edit, self.from_edit):
            edit.textChanged.connect(self._validate)
        self.payload_table.itemChanged.connect(self._validate)

    # --- validation ----------------------------------------------------------------------

    def _cell(self, row: int, col: int) -> str:
        item = self.payload_table.item(row, col)
        return item.text().strip() if item else ""

    def _problem(self) -> tuple[str, str]:
        """(version problem, other problem); empty strings when all is well."""
        config = self.controller.config
        if config is None:
            return "", "Open a project first."
        scheme = config.scheme
        version = self.version_edit.text().strip()
        label = "To version" if self.delta else "Version"
        if not version:
            return f"{label} is required.", ""
        try:
            key = scheme.precedence(version)
            if self.delta:
                old = self.from_edit.text().strip()
                if not old:
                    return "From version is required.", ""
                if scheme.precedence(old) >= key:
                    return (f"{version} is not newer than {old}: a Delta release never "
                            "downgrades.", "")
        except InvalidVersion as exc:
            return str(exc), ""
        change = self.change_or_none()
        if self.editing is None and isinstance(change, CreateRelease) \
                and config.find_release(change.ref) is not None:
            return f"That {'Delta' if self.delta else 'Full'} release already exists.", ""
        if self.hashing:
            return "", "Waiting for payload files to finish hashing…"
        if isinstance(change, EditRelease) and change == EditRelease(change.ref):
            return "", "Nothing changed yet."
        for row in range(self.existing_rows, self.existing_rows + len(self.artifacts)):
            if not self._cell(row, HARDWARE):
                return "", f"Payload {self._cell(row, FILE)} needs a hardware version."
            try:
                _parse_attributes(self._cell(row, ATTRIBUTES))
            except BadInput as exc:
                return "", f"Payload {self._cell(row, FILE)}: {exc}"
        return "", ""

    def change_or_none(self) -> CreateRelease | EditRelease | None:
        try:
            return self.change()
        except BadInput:
            return None

    def _validate(self) -> None:
        version_problem, other = self._problem()
        self.version_error.setText(version_problem)
        self.error_label.setText(" ".join(filter(None, (other, self.file_error))))
        self.ok_button.setEnabled(not version_problem and not other)

    def accept(self) -> None:
        self._validate()  # the project may have changed while the editor was open
        if self.ok_button.isEnabled():
            super().accept()

    # --- payload files -------------------------------------------------------------------

    def _on_add_clicked(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add payload files")
        if paths:
            self.add_files([Path(p) for p in paths])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_files(paths)

    async def _add_files(self, paths: list[Path]) -> None:
        if self.controller.path is None:
            return
        store = ArtifactStore(artifact_root(self.controller.path))
        loop = asyncio.get_event_loop()
        for path in paths:
            self.hashing += 1
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat(f"Hashing {path.name}… %p%")
            self.progress_bar.show()
            self._validate()

            def report(done: int, total: int) -> None:
                value = int(1000 * done / total) if total else 1000
                loop.call_soon_threadsafe(self.progress_bar.setValue, value)

            try:
                if path.is_file() and path.stat().st_size == 0:
                    raise BadInput("the file is empty")
                artifact = await self.controller.runner.run(
                    store.add_file, path, report, self._cancelled)
            except (OtaError, OSError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                self.file_error = f"Could not add {path.name}: {reason.rstrip('.')}."
                continue
            finally:
                self.hashing -= 1
            if any(a.sha256 == artifact.sha256 for a in self.artifacts):
                self.file_error = f"{path.name} is already in the list (same content)."
                continue
            self.file_error = ""
            self._append(artifact)
            self.payloadAdded.emit(artifact)
        self.progress_bar.hide()
        self._validate()

    def _cancelled(self) -> bool:
        return self._cancel.is_set() or self.controller.runner.stopping.is_set()

    def _append(self, artifact: StoredArtifact) -> None:
        self.artifacts.append(artifact)
        row = self.payload_table.rowCount()
        self.payload_table.blockSignals(True)
        self.payload_table.insertRow(row)
        for col, text in ((FILE, artifact.filename), (SIZE, f"{artifact.size:,}"),
                          (SHA256, artifact.sha256[:16] + "…")):
            item = QTableWidgetItem(text)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.payload_table.setItem(row, col, item)
        previous = self._cell(row - 1, HARDWARE) if row else ""
        self.payload_table.setItem(row, HARDWARE, QTableWidgetItem(previous))
        self.payload_table.setItem(row, ATTRIBUTES, QTableWidgetItem(""))
        self.payload_table.blockSignals(False)
        self.payload_table.resizeColumnsToContents()


def _parse_attributes(text: str) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = (x.strip() for x in part.partition("="))
        if not sep or not key:
            raise BadInput(f"attributes are written key=value, not {part!r}")
        if key == "hardware_version":
            raise BadInput("set the hardware version in its own column")
        if key in attributes:
            raise BadInput(f"attribute {key!r} is given twice")
        if any(not ch.isprintable() for ch in key + value):
            raise BadInput(f"attribute {key!r} contains control characters")
        attributes[key] = value
    return attributes
