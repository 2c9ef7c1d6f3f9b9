"""Table model over inspection records (plain InspectionInfo objects, newest first)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from ...services.records import InspectionInfo

FLAG_WORDS = {"": "", "false_reject": "false reject", "missed_defect": "missed defect"}
COLUMNS = ["Time", "Product", "Image", "Verdict", "Score", "Threshold", "Regions", "Source", "Engine", "Flag"]
IMAGE_COLUMN = COLUMNS.index("Image")  # the one that stretches (and elides) to fit the table
NUMERIC = {COLUMNS.index(c) for c in ("Score", "Threshold", "Regions")}


def local_time(utc_naive: datetime) -> datetime:
    """Records store naive UTC; show local time."""
    return utc_naive.replace(tzinfo=timezone.utc).astimezone().replace(tzinfo=None)


def sort_key(r: InspectionInfo, column: int) -> Any:
    """What a column sorts by: numbers as numbers, time as time (not as displayed text)."""
    return [r.created_at, r.product.casefold(), (r.original_name or r.image_path or "").casefold(), r.verdict,
            r.score, r.threshold, len(r.regions), r.source, r.engine_id, r.flag][column]


class HistoryModel(QAbstractTableModel):
    """Rows are `records` in the order shown; `sort` reorders them (the view's header clicks)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[InspectionInfo] = []
        self.sort_column, self.sort_order = 0, Qt.SortOrder.DescendingOrder  # newest first

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.records[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return [f"{local_time(r.created_at):%Y-%m-%d %H:%M:%S}", r.product, r.original_name or (r.image_path or ""),
                    r.verdict, f"{r.score:.2f}", f"{r.threshold:.2f}", str(len(r.regions)), r.source, r.engine_id,
                    FLAG_WORDS.get(r.flag, r.flag)][col]
        if role == Qt.ItemDataRole.ToolTipRole and col == IMAGE_COLUMN:
            return r.original_name or r.image_path or ""
        if role == Qt.ItemDataRole.ForegroundRole and col == COLUMNS.index("Verdict"):
            return QColor({"NG": "#c62828", "RECHECK": "#b26a00"}.get(r.verdict, "#1b7f3b"))
        if role == Qt.ItemDataRole.TextAlignmentRole and col in NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return r
        return None

    def set_records(self, records: list[InspectionInfo]) -> None:
        self.beginResetModel()
        self.records = self._sorted(records)
        self.endResetModel()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sort_column, self.sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()  # the view's selection follows its record
        ids = [self.records[i.row()].id for i in old]
        self.records = self._sorted(self.records)
        pos = {r.id: n for n, r in enumerate(self.records)}
        self.changePersistentIndexList(old, [self.index(pos[i], ix.column()) for i, ix in zip(ids, old)])
        self.layoutChanged.emit()

    def _sorted(self, records: list[InspectionInfo]) -> list[InspectionInfo]:
        # ties keep the newest first, so equal scores still read in time order
        by_time = sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)
        return sorted(by_time, key=lambda r: sort_key(r, self.sort_column),
                      reverse=self.sort_order == Qt.SortOrder.DescendingOrder)

    def replace(self, row: int, record: InspectionInfo) -> None:
        self.records[row] = record
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
