"""Undo/redo: every edit in the window is a QUndoCommand around a core Change.

The change is applied before the command is pushed (so a refused edit never reaches the
stack); undo reverts the operations it recorded, and redo applies the same Change again
(same seed, same staged devices). Each undo and redo is itself a recorded operation.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QUndoCommand, QUndoStack

from ota_desktop.changes import Change
from ota_desktop.errors import OtaError
from ota_desktop.gui.controller import ProjectController


class ChangeCommand(QUndoCommand):
    def __init__(self, controller: ProjectController, change: Change, operation_ids: list[int],
                 on_error: Callable[[str], None]) -> None:
        super().__init__(change.describe())
        self.controller = controller
        self.change = change
        self.operation_ids = operation_ids
        self._on_error = on_error
        self._applied = True  # the first redo() (from push) must not apply it twice
        self._stack: QUndoStack | None = None

    def attach(self, stack: QUndoStack) -> ChangeCommand:
        self._stack = stack
        return self

    def redo(self) -> None:
        if self._applied:
            return
        try:
            self.operation_ids = self.controller.apply(self.change)
            self._applied = True
        except OtaError as exc:
            self.setObsolete(True)
            self._on_error(f"Could not redo “{self.text()}”: {exc}")

    def undo(self) -> None:
        try:
            self.controller.revert(self.operation_ids)
            self._applied = False
        except OtaError as exc:
            # Still applied: step the stack forward again (redo() is then a no-op) so the
            # edit can be undone later, once whatever blocks it is resolved.
            stack = self._stack
            if stack is not None:
                QTimer.singleShot(0, lambda: stack.setIndex(min(stack.index() + 1,
                                                                stack.count())))
            self._on_error(f"Could not undo “{self.text()}”: {exc}")
