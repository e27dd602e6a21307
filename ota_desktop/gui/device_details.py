"""One device: its attributes, version history, and Inspect — the resolver's decision for it
with the trace that explains it."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ota_desktop.gui.icons import icon
from ota_desktop.queries import decide_for_device
from ota_desktop.resolver import Decision
from ota_desktop.store.store import DeviceRow, Store


class DeviceDetailsDialog(QDialog):
    def __init__(self, store: Store, device: DeviceRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.device = device
        self.decision: Decision = decide_for_device(store, device.serial)
        self.history = store.device_history(device.serial)
        self.feedback = store.device_feedback(device.serial)
        self._setup_ui()

    def show_inspect(self) -> None:
        self.tabs.setCurrentWidget(self.inspect_tab)

    def _setup_ui(self) -> None:
        d = self.device
        self.setWindowTitle(f"Device {d.serial}")
        self.resize(720, 480)
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget(self)
        layout.addWidget(self.tabs)
        self.tabs.addTab(self._attributes_tab(), "&Attributes")
        self.tabs.addTab(self._history_tab(), "Version &history")
        self.tabs.addTab(self._updates_tab(), "&Updates")
        self.inspect_tab = self._inspect_tab()
        self.tabs.addTab(self.inspect_tab, "&Inspect")

    def _attributes_tab(self) -> QWidget:
        d = self.device
        page = QWidget()
        form = QFormLayout(page)
        form.addRow("Serial:", QLabel(d.serial))
        form.addRow("Cohort:", QLabel(d.cohort))
        form.addRow("Software type:", QLabel(d.software_type))
        form.addRow("Current version:", QLabel(d.current_version or "(none reported)"))
        form.addRow("Staged in its cohort:", QLabel("yes" if d.staged else "no"))
        form.addRow("Last seen:", QLabel(d.last_seen or "never checked in"))
        self.attributes_table = QTableWidget(len(d.attributes), 2, page)
        self.attributes_table.setHorizontalHeaderLabels(["Attribute", "Value"])
        for row, (key, value) in enumerate(sorted(d.attributes.items())):
            self.attributes_table.setItem(row, 0, QTableWidgetItem(key))
            self.attributes_table.setItem(row, 1, QTableWidgetItem(value))
        self.attributes_table.horizontalHeader().setStretchLastSection(True)
        form.addRow("Attributes:", self.attributes_table)
        return page

    def _history_tab(self) -> QWidget:
        self.history_table = QTableWidget(len(self.history), 2)
        self.history_table.setHorizontalHeaderLabels(["Reported at", "Version"])
        for row, (at, version) in enumerate(self.history):
            self.history_table.setItem(row, 0, QTableWidgetItem(at))
            self.history_table.setItem(row, 1, QTableWidgetItem(version))
        self.history_table.horizontalHeader().setStretchLastSection(True)
        return self.history_table

    def _updates_tab(self) -> QWidget:
        """What the device reported about its updates (hawkBit feedback)."""
        self.feedback_table = QTableWidget(len(self.feedback), 5)
        self.feedback_table.setHorizontalHeaderLabels(
            ["At", "Release", "Status", "Progress", "Details"])
        for row, f in enumerate(self.feedback):
            status = f["execution"] + (f" / {f['finished']}" if f["finished"] != "none" else "")
            if f["kind"] == "cancel":
                status = "cancel: " + status
            progress = f["progress"]
            if isinstance(progress, dict) and "cnt" in progress and progress.get("of"):
                progress_text = f"{progress['cnt']} of {progress['of']}"
            elif isinstance(progress, dict) and "percentage" in progress:
                progress_text = f"{progress['percentage']}%"
            else:
                progress_text = ""
            for col, value in enumerate((f["at"], f["release"] or f["action_id"], status,
                                         progress_text, "; ".join(f["details"]))):
                self.feedback_table.setItem(row, col, QTableWidgetItem(value))
        self.feedback_table.horizontalHeader().setStretchLastSection(True)
        self.feedback_table.resizeColumnsToContents()
        return self.feedback_table

    def _inspect_tab(self) -> QWidget:
        decision = self.decision
        page = QWidget()
        layout = QVBoxLayout(page)
        verdict = (f"<b>Update to {decision.target_version}</b> ({decision.kind})"
                   if decision.update else "<b>No update</b>")
        self.verdict_label = QLabel(verdict)
        self.reason_label = QLabel(decision.reason)
        self.reason_label.setWordWrap(True)
        cohort = decision.effective_cohort + (" — staged" if decision.staged else "")
        self.cohort_label = QLabel(f"Effective cohort: {cohort}")
        layout.addWidget(QLabel("What this device gets when it asks for its latest release:"))
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.reason_label)
        layout.addWidget(self.cohort_label)
        if decision.payload is not None:
            p = decision.payload
            layout.addWidget(QLabel(f"Payload: {p.filename} ({p.size:,} bytes)"))
        self.trace_table = QTableWidget(len(decision.trace), 3, page)
        self.trace_table.setHorizontalHeaderLabels(["", "Considered", "Why"])
        for row, entry in enumerate(decision.trace):
            mark = QTableWidgetItem(icon(entry.outcome), entry.outcome)
            self.trace_table.setItem(row, 0, mark)
            self.trace_table.setItem(row, 1, QTableWidgetItem(entry.subject))
            self.trace_table.setItem(row, 2, QTableWidgetItem(entry.reason))
        header = self.trace_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.trace_table.verticalHeader().hide()
        layout.addWidget(self.trace_table)
        return page
