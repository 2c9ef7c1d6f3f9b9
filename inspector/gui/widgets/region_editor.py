"""Draw a product's ignore regions on one of its reference images (boxes in fractions of the image)."""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListWidget, QPushButton,
                               QSizePolicy, QVBoxLayout, QWidget)

from ...core import ignore_regions
from ...core.errors import InspectorError
from ..qt_images import qimage_copy

MIN_DRAG_PX = 4  # a shorter drag is a click, not a box


class RegionCanvas(QWidget):
    """The image scaled to fit; drag to add a box; ignored boxes are greyed over, the selected one red."""

    changed = Signal()

    def __init__(self, image: Optional[np.ndarray], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("regionCanvas")
        self.image = qimage_copy(image) if image is not None else None
        self.boxes: list[ignore_regions.Box] = []
        self.selected = -1
        self._start: Optional[QPointF] = None
        self._end: Optional[QPointF] = None
        self.setMinimumSize(360, 270)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def image_rect(self) -> QRectF:
        """Where the image is drawn (kept in its aspect ratio, centred)."""
        w, h = (self.image.width(), self.image.height()) if self.image is not None else (4, 3)
        scale = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)

    def _fraction(self, p: QPointF) -> tuple[float, float]:
        r = self.image_rect()
        return (min(max((p.x() - r.left()) / r.width(), 0.0), 1.0),
                min(max((p.y() - r.top()) / r.height(), 0.0), 1.0))

    def _to_widget(self, box: ignore_regions.Box) -> QRectF:
        r = self.image_rect()
        x0, y0, x1, y1 = box
        return QRectF(r.left() + x0 * r.width(), r.top() + y0 * r.height(), (x1 - x0) * r.width(),
                      (y1 - y0) * r.height())

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self._start = self._end = event.position()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._start is not None:
            self._end = event.position()
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._start is None:
            return
        start, end = self._start, event.position()
        self._start = self._end = None
        if abs(end.x() - start.x()) < MIN_DRAG_PX or abs(end.y() - start.y()) < MIN_DRAG_PX:
            self.selected = self._box_at(end)  # a click selects the box under it
        else:
            (ax, ay), (bx, by) = self._fraction(start), self._fraction(end)
            x0, x1, y0, y1 = min(ax, bx), max(ax, bx), min(ay, by), max(ay, by)
            if x1 > x0 and y1 > y0:
                self.boxes.append((round(x0, 4), round(y0, 4), round(x1, 4), round(y1, 4)))
                self.selected = len(self.boxes) - 1
        self.update()
        self.changed.emit()

    def _box_at(self, p: QPointF) -> int:
        for i in reversed(range(len(self.boxes))):
            if self._to_widget(self.boxes[i]).contains(p):
                return i
        return -1

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self.image is not None:
            painter.drawImage(self.image_rect(), self.image)
        for i, box in enumerate(self.boxes):
            rect = self._to_widget(box)
            painter.fillRect(rect, QColor(60, 60, 60, 150))
            painter.fillRect(rect, QColor(255, 255, 255, 60) if i != self.selected else QColor(198, 40, 40, 70))
            painter.setPen(QPen(QColor("#c62828") if i == self.selected else QColor("#fafafa"), 2))
            painter.drawRect(rect)
            painter.drawText(rect.adjusted(4, 2, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                             f"{i + 1}")
        if self._start is not None and self._end is not None:
            painter.setPen(QPen(QColor("#ffb300"), 2, Qt.PenStyle.DashLine))
            painter.drawRect(QRectF(self._start, self._end).normalized())
        painter.end()


class IgnoreRegionsDialog(QDialog):
    """The canvas, the list of boxes (share of the image each hides), Remove / Clear, and OK / Cancel;
    `boxes()` after OK. OK is refused while the boxes leave too little of the image inspected."""

    def __init__(self, image: Optional[np.ndarray], boxes: list[ignore_regions.Box], product: str,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("ignoreRegionsDialog")
        self.setWindowTitle(f"Ignore regions — {product}")
        self.canvas = RegionCanvas(image)
        self.canvas.boxes = list(boxes)
        hint = QLabel("Drag over the image to mark a part that is not inspected: a clamp, a label with "
                      "a date code, the background. A click selects a box. The change takes effect with "
                      "the next fit (and publish).")
        hint.setWordWrap(True)
        self.items = QListWidget()
        self.items.setObjectName("regionList")
        self.items.setMaximumWidth(260)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.remove_button = QPushButton("Remove")
        self.clear_button = QPushButton("Clear all")
        self.remove_button.clicked.connect(self._remove)
        self.clear_button.clicked.connect(self._clear)
        side = QVBoxLayout()
        side.addWidget(QLabel("Ignored boxes (x0, y0 – x1, y1, share of the image)"))
        side.addWidget(self.items, 1)
        side.addWidget(self.summary)
        row = QHBoxLayout()
        row.addWidget(self.remove_button)
        row.addWidget(self.clear_button)
        side.addLayout(row)
        body = QHBoxLayout()
        body.addWidget(self.canvas, 1)
        body.addLayout(side)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(hint)
        lay.addLayout(body, 1)
        lay.addWidget(self.buttons)
        self.canvas.changed.connect(self._refresh)
        self.items.currentRowChanged.connect(self._select)
        self._refresh()

    def boxes(self) -> list[ignore_regions.Box]:
        return list(self.canvas.boxes)

    def _refresh(self) -> None:
        self.items.blockSignals(True)
        self.items.clear()
        for box in self.canvas.boxes:
            x0, y0, x1, y1 = box
            share = 1 - ignore_regions.inspected_share([box])
            self.items.addItem(f"{x0:.2f}, {y0:.2f} – {x1:.2f}, {y1:.2f}  ({share:.0%})")
        self.items.setCurrentRow(self.canvas.selected)
        self.items.blockSignals(False)
        problem = ""
        try:
            ignore_regions.check_regions(self.canvas.boxes)
        except InspectorError as exc:  # shown, not raised: the engineer fixes the boxes
            problem = str(exc).split(" — ")[0]
        text = "Whole image inspected." if not self.canvas.boxes else \
            f"{ignore_regions.describe(self.canvas.boxes).capitalize()}."
        self.summary.setText(f"<span style='color:#c62828'>{problem.capitalize()}.</span>" if problem else text)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)
        self.remove_button.setEnabled(0 <= self.canvas.selected < len(self.canvas.boxes))
        self.clear_button.setEnabled(bool(self.canvas.boxes))

    def _select(self, row: int) -> None:
        self.canvas.selected = row
        self.canvas.update()
        self.remove_button.setEnabled(row >= 0)

    def _remove(self) -> None:
        if 0 <= self.canvas.selected < len(self.canvas.boxes):
            del self.canvas.boxes[self.canvas.selected]
            self.canvas.selected = -1
            self.canvas.update()
            self._refresh()

    def _clear(self) -> None:
        self.canvas.boxes.clear()
        self.canvas.selected = -1
        self.canvas.update()
        self._refresh()
