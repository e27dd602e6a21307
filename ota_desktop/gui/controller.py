"""The project controller: opens projects and computes matrices off the GUI thread.

Widgets never touch the store for heavy work; they call the controller, which runs the core
in the background thread and reports back through signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ota_desktop.changes import Change
from ota_desktop.demo import DEMO_DEVICE_COUNT, write_demo
from ota_desktop.errors import OtaError, StoreError
from ota_desktop.gui.tasks import BackgroundRunner
from ota_desktop.matrix import VersionMatrix, compute_matrix
from ota_desktop.model import Configuration
from ota_desktop.service import ProjectService
from ota_desktop.store.store import Store
from ota_desktop.sync import mirror
from ota_desktop.whatif import WhatIf, preview


class ProjectController(QObject):
    #: path, configuration
    opened = Signal(str, object)
    #: VersionMatrix
    matrixReady = Signal(object)
    #: message, done, total (total 0: no known end)
    progress = Signal(str, int, int)
    #: a sentence for the user
    failed = Signal(str)
    idle = Signal()
    #: the project was edited (apply or revert); views refresh
    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = BackgroundRunner()
        self.path: Path | None = None
        self.config: Configuration | None = None
        self.store: Store | None = None  # the GUI thread's own connection (reads, small edits)
        self._worker_store: Store | None = None  # used only in the background thread
        self._matrix_generation = 0
        self._seen_operation = 0
        self.actor = _user_name()
        #: the project signing key, once unlocked for this session (payloads added are signed)
        self.signer: Any = None

    # --- public API ----------------------------------------------------------------------

    def open_project(self, path: str | Path) -> asyncio.Task[Any]:
        return self.runner.spawn(self._open(Path(path)))

    def create_demo(self, path: str | Path) -> asyncio.Task[Any]:
        return self.runner.spawn(self._create_demo(Path(path)))

    def create_project(self, path: str | Path, name: str, scheme: str) -> asyncio.Task[Any]:
        return self.runner.spawn(self._create_project(Path(path), name, scheme))

    def compute(self, cohort: str, software_type: str) -> asyncio.Task[Any]:
        """Recompute the matrix; a newer request supersedes an older one still running."""
        self._matrix_generation += 1
        return self.runner.spawn(self._compute(cohort, software_type, self._matrix_generation))

    # --- edits: small and synchronous, on the GUI thread's own connection -----------------

    def service(self) -> ProjectService:
        if self.store is None:
            raise OtaError("Open a project first.")
        return ProjectService(self.store, actor=self.actor)

    def apply(self, change: Change) -> list[int]:
        """Apply ``change``; returns the ids of the operations it recorded (for undo)."""
        self.service()  # a clear error without a project
        assert self.store is not None
        with busy_as_error():
            ops = mirror.apply_local(self.store, change, actor=self.actor, signer=self.signer)
        self._after_edit()
        return ops

    def revert(self, operation_ids: list[int]) -> list[int]:
        """Undo operations newest first; returns the ids of the undo operations."""
        self.service()
        assert self.store is not None
        with busy_as_error():
            undo_ids = mirror.revert_local(self.store, operation_ids, actor=self.actor)
        self._after_edit()
        return undo_ids

    def preview(self, change: Change) -> WhatIf:
        if self.store is None:
            raise OtaError("Open a project first.")
        return preview(self.store, change, actor=self.actor)

    def reload(self) -> None:
        """The project file changed underneath (a sync): read it again, views refresh."""
        if self.store is not None:
            self._after_edit()

    def reload_if_changed(self) -> bool:
        """Re-read the configuration when an operation was recorded that this window did not
        make (a rollout guard pausing a release as devices report); True when it did."""
        if self.store is None or self._last_operation() == self._seen_operation:
            return False
        self._after_edit()
        return True

    def _last_operation(self) -> int:
        assert self.store is not None
        return int(self.store.db.execute("SELECT coalesce(max(id), 0) FROM operations")
                   .fetchone()[0])

    def _after_edit(self) -> None:
        assert self.store is not None
        self.config = self.store.configuration()
        self._seen_operation = self._last_operation()
        self.changed.emit()

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def shutdown(self) -> None:
        self.runner.shutdown()
        if self.store is not None:
            self.store.close()
            self.store = None

    # --- background work -----------------------------------------------------------------

    def _store(self, path: Path) -> Store:
        """The background thread's store for ``path`` (opened there, used only there)."""
        assert threading.current_thread() is not threading.main_thread()
        if self._worker_store is None or self._worker_store.path != path:
            if self._worker_store is not None:
                self._worker_store.close()
            self._worker_store = Store.open(path)
        return self._worker_store

    def _load(self, path: Path) -> Configuration:
        return self._store(path).configuration()

    async def _open(self, path: Path) -> None:
        self.progress.emit(f"Opening {path.name}…", 0, 0)
        try:
            if not path.exists():
                raise OtaError(f"There is no project file at {path}.")
            config = await self.runner.run(self._load, path)
        except OtaError as exc:
            self.failed.emit(str(exc))
            self.idle.emit()
            return
        if self.store is not None:
            self.store.close()
        self.store = Store.open(path)
        self.path, self.config = path, config
        self.signer = None  # a key unlocked for another project stays with it
        self._seen_operation = self._last_operation()
        self.opened.emit(str(path), config)
        self.idle.emit()

    async def _create_demo(self, path: Path) -> None:
        loop = asyncio.get_event_loop()

        def report(done: int, total: int) -> None:
            loop.call_soon_threadsafe(self.progress.emit,
                                      f"Writing the demo fleet ({done:,} of {total:,} devices)…",
                                      done, total)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".part")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{partial}{suffix}").unlink(missing_ok=True)
            store = Store.open(partial)
            write_demo(store, progress=report)
            store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            store.close()
            partial.replace(path)  # a half-written demo never looks like a project

        self.progress.emit("Writing the demo fleet…", 0, DEMO_DEVICE_COUNT)
        try:
            await self.runner.run(write)
        except (OtaError, OSError) as exc:
            self.failed.emit(f"Could not write the demo project: {exc}")
            self.idle.emit()
            return
        await self._open(path)

    async def _create_project(self, path: Path, name: str, scheme: str) -> None:
        def create() -> None:
            if path.exists():
                raise OtaError(f"{path} already exists; choose a new file name.")
            store = Store.open(path)
            service = ProjectService(store)
            with service.operation("project.new", f"project:{name}"):
                service.create_project(_slug(name), name, scheme)
                service.add_software_type("main")
                service.create_cohort("default", "Default", is_default=True)
            store.close()

        try:
            await self.runner.run(create)
        except OtaError as exc:
            self.failed.emit(str(exc))
            self.idle.emit()
            return
        await self._open(path)

    async def _compute(self, cohort: str, software_type: str, generation: int) -> None:
        path = self.path
        if path is None:
            return
        self.progress.emit(f"Computing the version matrix of {cohort}…", 0, 0)

        def work() -> VersionMatrix:
            store = self._store(path)
            config = store.configuration()
            return compute_matrix(config, cohort, software_type, store.groups(cohort,
                                                                              software_type))

        try:
            matrix = await self.runner.run(work)
        except OtaError as exc:
            self.failed.emit(str(exc))
            self.idle.emit()
            return
        if generation == self._matrix_generation:
            self.matrixReady.emit(matrix)
        self.idle.emit()


def _user_name() -> str:
    """Who is recorded as having made an edit (the OS login; no accounts offline)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "local"


def _slug(name: str) -> str:
    slug = "".join(ch.lower() if ch.isalnum() else "-" for ch in name).strip("-")
    return slug or "project"


@contextlib.contextmanager
def busy_as_error() -> Iterator[None]:
    """SQLite gave up waiting for the write lock (a long sync step holds it): a sentence for
    the user, and nothing changed."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise StoreError("The project file is busy (a sync is writing to it); nothing was "
                         f"changed — try again in a moment ({exc}).") from exc
