"""The window's side of signing and offline bundles: the project signing key (create, import,
unlock for the session), release bundles out to stations, check-in bundles back, and import
of either with the first-time fingerprint check. Long work runs in the store thread with
progress; a refused bundle changes nothing and says why."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ota_desktop import bundle, signing
from ota_desktop.errors import OtaError
from ota_desktop.gui.controller import ProjectController
from ota_desktop.gui.widgets import error_label
from ota_desktop.store.store import Store

log = logging.getLogger(__name__)
SUFFIX = ".otab"
D = TypeVar("D", bound=QDialog)
FILTER = f"OTA Desktop bundles (*{SUFFIX});;All files (*)"


class BundleController(QObject):
    """Runs bundle work in the project's store thread and reports back with signals."""

    #: done, total (bytes)
    progress = Signal(int, int)
    #: a sentence saying what was written or taken
    finished = Signal(str)
    #: a sentence saying why nothing was done
    failed = Signal(str)
    #: who signed ("project demo" / "station line 3"), their key's fingerprint
    needsTrust = Signal(str, str)
    #: a first bundle would replace the open project's own releases: why, for the user to confirm
    needsReplace = Signal(str)
    #: a bundle changed the project file (views re-read it)
    imported = Signal()

    def __init__(self, project: ProjectController) -> None:
        super().__init__(project)
        self.project = project

    def export_releases(self, target: Path, passphrase: str, every_release: bool) -> None:
        unlocked = self.project.signer

        def work(store: Store, report: Callable[[int, int], None]) -> str:
            from ota_desktop.service import ProjectService

            key = unlocked or ProjectService(store).signing_key(passphrase)
            summary = bundle.export_releases(store, target, key, every_release, report)
            return f"Wrote {target.name}: {summary.describe()}."

        self._spawn(work)

    def export_checkins(self, target: Path, everything: bool) -> None:
        def work(store: Store, report: Callable[[int, int], None]) -> str:
            summary = bundle.export_checkins(store, target, everything, report)
            return f"Wrote {target.name}: {summary.describe()}."

        self._spawn(work)

    def import_bundle(self, path: Path, trust: str | None, station_name: str | None,
                      replace: bool = False) -> None:
        def work(store: Store, report: Callable[[int, int], None]) -> str:
            summary = bundle.import_bundle(store, path, trust, station_name, report, replace)
            return f"Imported {path.name}: {summary.describe()}."

        self._spawn(work, changes_project=True)

    def _spawn(self, work: Callable[[Store, Callable[[int, int], None]], str],
               changes_project: bool = False) -> None:
        self.project.runner.spawn(self._run(work, changes_project))

    async def _run(self, work: Callable[[Store, Callable[[int, int], None]], str],
                   changes_project: bool) -> None:
        path = self.project.path
        if path is None:
            self.failed.emit("Open a project first.")
            return
        loop = asyncio.get_event_loop()

        def report(done: int, total: int) -> None:
            loop.call_soon_threadsafe(self.progress.emit, done, total)

        def in_thread() -> str:
            store = Store.open(path)  # this thread's own connection
            try:
                return work(store, report)
            finally:
                store.close()

        try:
            message = await self.project.runner.run(in_thread)
        except bundle.NeedsTrust as exc:
            self.needsTrust.emit(exc.signer, exc.fingerprint)
            return
        except bundle.NeedsReplace as exc:
            self.needsReplace.emit(str(exc))
            return
        except (OtaError, OSError) as exc:
            self.failed.emit(str(exc) if isinstance(exc, OtaError)
                             else f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
            return
        except Exception as exc:  # never leave the dialog waiting on a failure
            log.exception("bundle work failed")
            self.failed.emit(f"That did not work ({type(exc).__name__}: {exc}); nothing was "
                             "changed.")
            return
        if changes_project:
            self.project.reload()
            self.imported.emit()
        self.finished.emit(message)


class _BundleDialog(QDialog):
    """A file, a few options, a progress bar and an inline message."""

    def __init__(self, controller: BundleController, title: str, action: str,
                 parent: QWidget | None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle(title)
        self.file_edit = QLineEdit(self)
        self.browse_button = QPushButton("&Browse…", self)
        row = QHBoxLayout()
        row.addWidget(self.file_edit)
        row.addWidget(self.browse_button)
        self.form = QFormLayout()
        label = QLabel("&File:", self)
        label.setBuddy(self.file_edit)
        self.form.addRow(label, row)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.hide()
        self.message = error_label(self, "bundleMessage")
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # refusals quote the file
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.run_button = self.buttons.addButton(action, QDialogButtonBox.ButtonRole.ActionRole)
        self.run_button.setDefault(True)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.buttons.rejected.connect(self.reject)
        self.run_button.clicked.connect(lambda: self._on_run())
        self.browse_button.clicked.connect(self._on_browse)
        controller.progress.connect(self._on_progress)
        controller.finished.connect(self._stop)  # what was written or taken, or why not
        controller.failed.connect(self._stop)
        self.resize(560, self.sizeHint().height())

    @property
    def path(self) -> Path | None:
        text = self.file_edit.text().strip()
        return Path(text).expanduser() if text else None

    def _start(self) -> None:
        self.run_button.setEnabled(False)
        self.message.clear()
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()

    def _stop(self, message: str) -> None:
        self.run_button.setEnabled(True)
        self.progress_bar.hide()
        self.message.setText(message)
        self.adjustSize()

    def _on_progress(self, done: int, total: int) -> None:
        if total:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(1000 * done / total))

    def _on_run(self) -> None:
        raise NotImplementedError

    def _on_browse(self) -> None:
        raise NotImplementedError


class ExportBundleDialog(_BundleDialog):
    """Releases out (at HQ, signed with the project key) or check-ins back (on a station)."""

    def __init__(self, controller: BundleController, checkins: bool,
                 parent: QWidget | None = None) -> None:
        title = "Export Check-ins Bundle" if checkins else "Export Release Bundle"
        super().__init__(controller, title, "&Export", parent)
        self.checkins = checkins
        self.every_box = QCheckBox("Carry the files of &every release, not only active ones"
                                   if not checkins else "Every check-in, not only those since "
                                   "the last bundle", self)
        self.passphrase_edit = QLineEdit(self)
        self.passphrase_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.form.addRow("", self.every_box)
        if not checkins:
            unlocked = controller.project.signer is not None
            self.passphrase_edit.setPlaceholderText(
                "unlocked for this session" if unlocked else "the signing key's passphrase")
            self.passphrase_edit.setEnabled(not unlocked)
            self.form.addRow("Signing key &passphrase:", self.passphrase_edit)
        note = QLabel("Check-ins of this station's devices since its last bundle, signed with "
                      "the station's own key, for HQ to import." if checkins else
                      "Releases, payload files, cohorts, activations and the fleet, signed "
                      "with the project key, for a station with no network to import.", self)
        note.setWordWrap(True)
        self.form.addRow(note)

    def _on_browse(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, self.windowTitle(), self.file_edit.text(),
                                              FILTER)
        if name:
            self.file_edit.setText(name if name.endswith(SUFFIX) else name + SUFFIX)

    def _on_run(self) -> None:
        target = self.path
        if target is None:
            self.message.setText("Name the bundle file to write.")
            return
        if not self.checkins and self.passphrase_edit.isEnabled() \
                and not self.passphrase_edit.text():
            self.message.setText("Type the signing key's passphrase: the bundle is signed.")
            return
        self._start()
        if self.checkins:
            self.controller.export_checkins(target, self.every_box.isChecked())
        else:
            self.controller.export_releases(target, self.passphrase_edit.text(),
                                            self.every_box.isChecked())


class ImportBundleDialog(_BundleDialog):
    """Either kind of bundle; a first one from a signer asks for its fingerprint to be
    compared and trusted."""

    def __init__(self, controller: BundleController, parent: QWidget | None = None) -> None:
        super().__init__(controller, "Import Bundle", "&Import", parent)
        self.station_edit = QLineEdit(self)
        self.station_edit.setPlaceholderText("this computer's name")
        self.form.addRow("Station &name (first import):", self.station_edit)
        self.trust_label = QLabel(self)
        self.trust_label.setObjectName("trustLabel")
        self.trust_label.setWordWrap(True)
        self.trust_label.hide()
        self.trust_button = self.buttons.addButton("&Trust and Import",
                                                   QDialogButtonBox.ButtonRole.ActionRole)
        self.trust_button.hide()
        self.trust_label.setTextFormat(Qt.TextFormat.PlainText)  # names come from the file
        self.replace_button = self.buttons.addButton("&Replace and Import",
                                                     QDialogButtonBox.ButtonRole.ActionRole)
        self.replace_button.hide()
        self.layout().insertWidget(1, self.trust_label)
        self.fingerprint: str | None = None
        self.replace = False
        controller.needsTrust.connect(self._on_needs_trust)
        controller.needsReplace.connect(self._on_needs_replace)
        self.trust_button.clicked.connect(self._on_trust)
        self.replace_button.clicked.connect(self._on_replace)

    def _on_browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Import Bundle", self.file_edit.text(),
                                              FILTER)
        if name:
            self.file_edit.setText(name)

    def _on_run(self, trust: str | None = None) -> None:
        path = self.path
        if path is None or not path.is_file():
            self.message.setText("Choose the bundle file to import.")
            return
        self.trust_label.hide()
        self.trust_button.hide()
        self.replace_button.hide()
        self._start()
        self.controller.import_bundle(path, trust, self.station_edit.text().strip() or None,
                                      self.replace)

    def _on_needs_trust(self, signer: str, fingerprint: str) -> None:
        self._stop("")
        self.fingerprint = fingerprint
        self.trust_label.setText(
            f"This is the first bundle from {signer}. Compare its key's fingerprint with the "
            f"one shown where it was made (Project → Signing Key… at HQ, or on the station) "
            f"before trusting it:\n\n{fingerprint}")
        self.trust_label.show()
        self.trust_button.show()
        self.adjustSize()

    def _on_trust(self) -> None:
        self._on_run(self.fingerprint)

    def _on_needs_replace(self, message: str) -> None:
        self._stop("")
        self.trust_label.setText(message)
        self.trust_label.show()
        self.replace_button.show()
        self.adjustSize()

    def _on_replace(self) -> None:
        self.replace = True
        self._on_run()


class SigningKeyDialog(QDialog):
    """The project signing key: create or import one (stored only encrypted), unlock it so
    payloads added in this session are signed, sign what is not signed yet."""

    def __init__(self, project: ProjectController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.setWindowTitle("Signing Key")
        self.status = QLabel(self)
        self.status.setObjectName("keyStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(self.status.textInteractionFlags()
                                            | self.status.textInteractionFlags().TextSelectableByMouse)
        self.algorithm_combo = QComboBox(self)
        self.algorithm_combo.addItem("Ed25519 (recommended)", "ed25519")
        self.algorithm_combo.addItem("ECDSA P-256", "ecdsa-p256")
        self.passphrase_edit = QLineEdit(self)
        self.passphrase_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat_edit = QLineEdit(self)
        self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.message = error_label(self, "keyMessage")
        form = QFormLayout()
        form.addRow("&Algorithm:", self.algorithm_combo)
        form.addRow("&Passphrase:", self.passphrase_edit)
        form.addRow("&Repeat (new key):", self.repeat_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        role = QDialogButtonBox.ButtonRole.ActionRole
        self.create_button = self.buttons.addButton("&Create Key", role)
        self.import_button = self.buttons.addButton("&Import PEM…", role)
        self.unlock_button = self.buttons.addButton("&Unlock", role)
        self.sign_button = self.buttons.addButton("&Sign Unsigned Payloads", role)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.buttons.rejected.connect(self.reject)
        self.create_button.clicked.connect(self._on_create)
        self.import_button.clicked.connect(self._on_import)
        self.unlock_button.clicked.connect(self._on_unlock)
        self.sign_button.clicked.connect(self._on_sign)
        self.show_state()

    def show_state(self) -> None:
        store = self.project.store
        found = bundle.keys(store) if store is not None else None
        has_key = bool(found and found.signing_key)
        lines = []
        if found and found.signing_key:
            algorithm = store.db.execute("SELECT algorithm FROM signing_key").fetchone()[0]
            lines.append(f"Project signing key ({algorithm}), fingerprint:\n"
                         f"{found.signing_key}")
            lines.append("Unlocked: payloads you add now are signed." if self.project.signer
                         else "Locked: unlock it to sign payloads as you add them.")
        else:
            lines.append("This project has no signing key: payloads are served unsigned.")
        if found and found.station_key:
            lines.append(f"\nThis station's key ({found.station_name}), for its check-in "
                         f"bundles:\n{found.station_key}")
        if found and found.trusted_project:
            lines.append(f"\nTakes release bundles signed by:\n{found.trusted_project}")
        self.status.setText("\n".join(lines))
        for widget in (self.create_button, self.import_button, self.algorithm_combo,
                       self.repeat_edit):
            widget.setEnabled(not has_key)
        self.unlock_button.setEnabled(has_key and self.project.signer is None)
        self.sign_button.setEnabled(has_key)

    def _new_passphrase(self) -> str | None:
        text = self.passphrase_edit.text()
        if len(text) < signing.MIN_PASSPHRASE:
            self.message.setText(f"A passphrase is at least {signing.MIN_PASSPHRASE} "
                                 "characters.")
            return None
        if text != self.repeat_edit.text():
            self.message.setText("The two passphrases differ.")
            return None
        return text

    def _do(self, what: Callable[[], Any], done: str) -> None:
        try:
            what()
        except OtaError as exc:
            self.message.setText(str(exc))
            return
        except OSError as exc:
            self.message.setText(f"{exc.strerror or exc}: {exc.filename or ''}")
            return
        self.message.setText(done)
        self.project.reload()
        self.show_state()

    def _on_create(self) -> None:
        passphrase = self._new_passphrase()
        if passphrase is not None:
            self._do(lambda: self.project.service().create_signing_key(
                passphrase, self.algorithm_combo.currentData()),
                "Created the signing key; it is stored encrypted with your passphrase.")

    def _on_import(self) -> None:
        passphrase = self._new_passphrase()
        if passphrase is None:
            return
        name, _ = QFileDialog.getOpenFileName(self, "Import Private Key", "",
                                              "PEM keys (*.pem *.key);;All files (*)")
        if not name:
            return
        data = Path(name).read_bytes()
        current = None
        if b"ENCRYPTED" in data:
            current, ok = QInputDialog.getText(self, "Key File Passphrase",
                                               "The key file's own passphrase:",
                                               QLineEdit.EchoMode.Password)
            if not ok:
                return
        self._do(lambda: self.project.service().import_signing_key(data, passphrase, current),
                 "Imported the key; it is stored encrypted with your passphrase.")

    def _on_unlock(self) -> None:
        def unlock() -> None:
            self.project.signer = self.project.service().signing_key(
                self.passphrase_edit.text())

        self._do(unlock, "Unlocked for this session.")

    def _on_sign(self) -> None:
        count: list[int] = []
        self._do(lambda: count.append(self.project.service().sign_payloads(
            self.passphrase_edit.text())), "")
        if count:
            self.message.setText(f"Signed {count[0]} payload(s).")


class BundleMenu(QObject):
    """Project → Signing Key… and Offline Bundles: the menu entries and the dialogs they open
    (``keep`` holds a dialog open as the window's own)."""

    def __init__(self, window: QWidget, project: ProjectController, menu: QMenu,
                 keep: Callable[[QDialog], None]) -> None:
        super().__init__(window)
        self.window, self.project, self.keep = window, project, keep
        self.runner = BundleController(project)
        self.signing_key_action = menu.addAction("Si&gning Key…")
        bundles = menu.addMenu("Offline &Bundles")
        self.export_bundle_action = bundles.addAction("&Export Release Bundle…")
        self.export_checkins_action = bundles.addAction("Export &Check-ins Bundle…")
        self.import_bundle_action = bundles.addAction("&Import Bundle…")
        self.signing_key_action.triggered.connect(self.open_signing_key)
        self.export_bundle_action.triggered.connect(lambda: self.open_export_bundle())
        self.export_checkins_action.triggered.connect(
            lambda: self.open_export_bundle(checkins=True))
        self.import_bundle_action.triggered.connect(self.open_import_bundle)

    def open_signing_key(self) -> SigningKeyDialog:
        return self._shown(SigningKeyDialog(self.project, self.window))

    def open_export_bundle(self, checkins: bool = False) -> ExportBundleDialog:
        return self._shown(ExportBundleDialog(self.runner, checkins, self.window))

    def open_import_bundle(self) -> ImportBundleDialog:
        return self._shown(ImportBundleDialog(self.runner, self.window))

    def _shown(self, dialog: D) -> D:
        self.keep(dialog)
        return dialog
