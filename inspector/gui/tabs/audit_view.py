"""History › Audit: who changed which recipe, threshold, reference or setting, and when (CSV export)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QTableView, QVBoxLayout, QWidget)

from ...services.audit import AuditInfo, export_audit_csv, list_audit
from ..state import AppState
from ..workers import run_task
from .history_model import local_time

COLUMNS = ["Time", "Role", "User", "Station", "Product", "What", "Old value", "New value"]
LIMIT = 5000


def _shown(value: str) -> str:
    return "—" if value == "null" else value  # nothing before a creation / after a removal


class AuditModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[AuditInfo] = []

    def set_rows(self, rows: list[AuditInfo]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        values = [f"{local_time(r.created_at):%Y-%m-%d %H:%M:%S}", r.role or "—", r.user, r.station,
                  r.product_name or "—", r.what, _shown(r.old_value), _shown(r.new_value)]
        if role == Qt.ItemDataRole.DisplayRole:
            return values[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and index.column() >= 6:
            return values[index.column()]  # long JSON values elide in the cell
        return None


class AuditView(QWidget):
    """The audit rows of one product or all, newest first."""

    def __init__(self, state: AppState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self._serial = 0
        self.product = QComboBox()
        self.product.setObjectName("auditProduct")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self.csv_btn = QPushButton("Export CSV…")
        self.csv_btn.setObjectName("auditCsv")
        self.csv_btn.clicked.connect(self.export_csv_dialog)
        top = QHBoxLayout()
        for w in (QLabel("Product"), self.product, refresh):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.csv_btn)
        self.model = AuditModel()
        self.table = QTableView()
        self.table.setObjectName("auditTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for col in (6, 7):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(col, 260)
        header.setStretchLastSection(True)
        self.summary = QLabel()
        self.summary.setObjectName("auditSummary")
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.summary)
        self.product.currentIndexChanged.connect(self.refresh)
        state.products_changed.connect(self._fill_products)
        state.workspace_changed.connect(self.refresh)
        self._fill_products()

    def _fill_products(self) -> None:
        current = self.product.currentData()
        self.product.blockSignals(True)
        self.product.clear()
        self.product.addItem("All products and settings", None)
        for name in self.state.product_names():
            self.product.addItem(name, name)
        self.product.setCurrentIndex(max(0, self.product.findData(current)))
        self.product.blockSignals(False)

    def showEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override: fresh on every visit
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        if self.state.workspace is None:
            self.model.set_rows([])
            self.summary.setText("No workspace open.")
            return
        self._serial += 1
        serial = self._serial
        run_task(self, list_audit, self.state.workspace, self.product.currentData(), hooks=False, limit=LIMIT,
                 on_result=lambda rows, s=serial: s == self._serial and self._show(rows))

    def _show(self, rows: list[AuditInfo]) -> None:
        self.model.set_rows(rows)
        more = f" (newest {LIMIT} shown)" if len(rows) >= LIMIT else ""
        self.summary.setText(f"{len(rows)} change(s){more}" if rows else
                             "No changes recorded yet: recipe, reference, threshold and setting changes appear here.")

    def export_csv_dialog(self) -> None:
        name = self.product.currentData() or "all"
        path, _ = QFileDialog.getSaveFileName(self, "Export audit trail as CSV",
                                              str(Path.home() / f"audit-{name}-{datetime.now():%Y%m%d}.csv"),
                                              "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))

    def export_csv(self, path: Path) -> None:
        rows = list(self.model.rows)
        run_task(self, export_audit_csv, rows, path, hooks=False,
                 on_result=lambda _p: self.summary.setText(f"Exported {len(rows)} change(s) to {path}"))
