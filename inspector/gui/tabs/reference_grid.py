"""The product's good reference images as a thumbnail grid (add, remove, drag and drop).

Thumbnails are decoded and scaled in a worker and appear one by one; the grid itself only
holds small pixmaps. An empty product shows what to do instead of an empty grid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStackedLayout, QWidget

from ...core.image_io import load_image
from ...services.records import ReferenceInfo
from ..qt_images import qimage_copy, thumbnail_array
from ..widgets.empty_state import EmptyState
from ..workers import Task, run_task

THUMB = 128


def make_thumbnails(items: list[tuple[int, Path]], size: int = THUMB, progress=None, cancel=None):  # noqa: ANN001, ANN201
    """Yield (reference id, QImage thumbnail or None when unreadable); runs in a worker."""
    for i, (ref_id, path) in enumerate(items):
        if cancel is not None and cancel():
            return
        if progress is not None:
            progress(i, len(items), f"thumbnail {path.name}")
        try:
            yield ref_id, qimage_copy(thumbnail_array(load_image(path), size))
        except Exception:  # noqa: BLE001 - a broken file shows as a grey tile, not an error
            yield ref_id, None


class ReferenceModel(QAbstractListModel):
    """Rows: ReferenceInfo; DecorationRole: the thumbnail once it is ready."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[ReferenceInfo] = []
        self.thumbs: dict[int, QPixmap] = {}
        self._placeholder = QPixmap(THUMB, THUMB)
        self._placeholder.fill(QColor("#d5d9de"))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.refs)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        ref = self.refs[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return ref.original_name
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbs.get(ref.id, self._placeholder)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{ref.original_name}\n{ref.width} × {ref.height} px\nadded {ref.added_at:%Y-%m-%d %H:%M}"
        if role == Qt.ItemDataRole.UserRole:
            return ref.id
        return None

    def set_refs(self, refs: list[ReferenceInfo]) -> None:
        self.beginResetModel()
        self.refs = refs
        keep = {r.id for r in refs}
        self.thumbs = {k: v for k, v in self.thumbs.items() if k in keep}
        self.endResetModel()

    def set_thumb(self, ref_id: int, image: Optional[QImage]) -> None:
        if image is None:
            return
        self.thumbs[ref_id] = QPixmap.fromImage(image)
        for row, r in enumerate(self.refs):
            if r.id == ref_id:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
                break


def dropped_paths(event: QDropEvent | QDragEnterEvent) -> list[Path]:
    md = event.mimeData()
    return [Path(u.toLocalFile()) for u in md.urls() if u.isLocalFile()] if md.hasUrls() else []


class ReferenceGrid(QWidget):
    """Grid of thumbnails or the empty state; emits `files_dropped` for files/folders dropped."""

    files_dropped = Signal(list)

    def __init__(self, on_add: Callable[[], None], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.model = ReferenceModel()
        self.view = QListView()
        self.view.setObjectName("referenceGrid")
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setIconSize(QSize(THUMB, THUMB))
        self.view.setGridSize(QSize(THUMB + 24, THUMB + 36))
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setModel(self.model)
        self.view.setAcceptDrops(False)  # the container handles drops
        self.empty = EmptyState("Add 5-20 good images of this product", "Add images…", on_add,
                                detail="Good parts only, shot the way the line will see them. "
                                       "You can also drop files or folders here.")
        self.empty.setObjectName("referencesEmpty")
        self.stack = QStackedLayout(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.view)
        self._task: Optional[Task] = None

    def set_refs(self, refs: list[ReferenceInfo], root: Optional[Path]) -> None:
        self.model.set_refs(refs)
        self.stack.setCurrentWidget(self.view if refs else self.empty)
        missing = [(r.id, root / r.path) for r in refs if r.id not in self.model.thumbs] if root else []
        if self._task is not None and self._task.running:
            self._task.cancel()
        if missing:
            self._task = run_task(self, make_thumbnails, missing, on_yield=lambda item: self.model.set_thumb(*item))

    def selected_ids(self) -> list[int]:
        return [self.model.refs[i.row()].id for i in self.view.selectionModel().selectedIndexes()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if dropped_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)
