"""A strip above the matrix naming each paused rollout of the cohort shown, why it paused,
and a one-click Resume."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ota_desktop.gui.icons import icon
from ota_desktop.matrix import VersionMatrix
from ota_desktop.model import ReleaseRef


class PausedBanner(QFrame):
    #: the ReleaseRef to resume in the matrix's cohort
    resumeRequested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pausedBanner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setBackgroundRole(QPalette.ColorRole.ToolTipBase)
        self.setForegroundRole(QPalette.ColorRole.ToolTipText)
        self.setAutoFillBackground(True)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(8, 4, 8, 4)
        self.buttons: dict[ReleaseRef, QPushButton] = {}
        self.hide()

    def show_matrix(self, matrix: VersionMatrix) -> None:
        """One line per paused release of ``matrix``'s cohort (hidden when there is none)."""
        while self._layout.count():
            item = self._layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.buttons = {}
        for ref, reason in matrix.paused.items():
            line = QWidget(self)
            row = QHBoxLayout(line)
            row.setContentsMargins(0, 0, 0, 0)
            name = (f"Delta {ref.from_version} → {ref.to_version}" if ref.is_delta
                    else f"Full release {ref.version}")
            mark = QLabel(line)
            mark.setPixmap(icon("warning").pixmap(16, 16))
            label = QLabel(f"<b>{name}</b> is paused in {matrix.cohort} and not offered to "
                           f"devices — {reason}.", line)
            label.setWordWrap(True)
            button = QPushButton("&Resume", line)
            button.setToolTip(f"Serve {name} in {matrix.cohort} again; failures are counted "
                              "afresh from now (Ctrl+Z undoes it)")
            button.setAccessibleName(f"Resume {name}")
            button.clicked.connect(lambda _checked=False, r=ref: self.resumeRequested.emit(r))
            row.addWidget(mark)
            row.addWidget(label, 1)
            row.addWidget(button)
            self._layout.addWidget(line)
            self.buttons[ref] = button
        self.setVisible(bool(matrix.paused))
