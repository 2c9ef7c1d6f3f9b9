"""Large image view with zoom/pan, fit and 1:1, and result layers drawn with Qt.

Layers: the image, the heatmap (RGBA, product colour scale), the mask outline and the
region boxes with labels; each layer can be toggled. Labels ignore the zoom so they stay
readable. The view keeps "fit to window" while resized until the user zooms.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPixmap,
                           QPolygonF, QWheelEvent)
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem, QGraphicsRectItem,
                               QGraphicsScene, QGraphicsView, QStyleOptionGraphicsItem, QWidget)

from .overlay_data import OverlayData
from .qt_images import qimage_view

OUTLINE = QColor(255, 40, 40)
BOX = QColor(255, 210, 0)
DROPPED = QColor(190, 190, 190, 170)  # filtered-out candidate boxes: faint grey, dashed
IGNORED = QColor(40, 40, 40, 110)  # the recipe's ignore regions: greyed over, a dashed white edge


class LabelItem(QGraphicsItem):
    """Text on a dark plate, constant size on screen, above its box's top-left corner (`anchor`)."""

    def __init__(self, text: str, anchor: QPointF = QPointF(), parent: Optional[QGraphicsItem] = None,
                 color: QColor = BOX) -> None:
        super().__init__(parent)
        self.text = text
        self.color = QColor(color)
        self.anchor = QPointF(anchor)
        self.font = QFont()
        self.font.setPointSizeF(max(9.0, self.font.pointSizeF()))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        fm = QFontMetricsF(self.font)
        self._rect = QRectF(0, -fm.height() - 4, fm.horizontalAdvance(text) + 8, fm.height() + 4)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self._rect

    def paint(self, p: QPainter, _opt: QStyleOptionGraphicsItem, _w: Optional[QWidget] = None) -> None:
        p.fillRect(self._rect, QColor(0, 0, 0, 170 if self.color == BOX else 110))
        p.setPen(self.color)
        p.setFont(self.font)
        p.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self.text)


class ImageView(QGraphicsView):
    """Image + overlay layers; wheel zooms at the cursor, drag pans."""

    zoom_changed = Signal(float)

    def __init__(self, parent: Optional[QWidget] = None, empty_text: str = "") -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QBrush(QColor("#2b2f33")))
        self.setMinimumSize(240, 200)
        self.empty_text = empty_text
        self._image_item: Optional[QGraphicsPixmapItem] = None
        self.layers: dict[str, list[QGraphicsItem]] = {"heat": [], "outline": [], "boxes": [], "dropped": [],
                                                       "ignored": []}
        self.visible = {"heat": True, "outline": True, "boxes": True, "dropped": False, "ignored": True}
        self._fit = True

    # --- content ---------------------------------------------------------------------------
    def has_image(self) -> bool:
        return self._image_item is not None

    def set_image(self, image: Optional[np.ndarray], overlay: Optional[OverlayData] = None) -> None:
        """Show `image` (uint8 RGB) with `overlay`; keeps the zoom unless in fit mode."""
        same_size = (self._image_item is not None and image is not None
                     and self._image_item.pixmap().width() == image.shape[1]
                     and self._image_item.pixmap().height() == image.shape[0])
        self.scene().clear()
        self.layers = {k: [] for k in self.layers}
        self._image_item = None
        if image is None:
            self.viewport().update()
            return
        self._image_item = self.scene().addPixmap(QPixmap.fromImage(qimage_view(image)))
        self.scene().setSceneRect(QRectF(self._image_item.pixmap().rect()))
        if overlay is not None:
            self._add_overlay(overlay)
        if self._fit or not same_size:
            self.fit()

    def _add_overlay(self, ov: OverlayData) -> None:
        sc = self.scene()
        for b in ov.ignored:
            x0, y0, x1, y1 = b.box
            pen = QPen(QColor(250, 250, 250, 200), 1, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            rect = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0))
            rect.setPen(pen)
            rect.setBrush(IGNORED)
            rect.setZValue(0.5)  # under the heatmap (flat there) and every box
            rect.setToolTip(b.text)
            sc.addItem(rect)
            self.layers["ignored"].append(rect)
        if ov.heat_rgba is not None:
            item = sc.addPixmap(QPixmap.fromImage(qimage_view(ov.heat_rgba)))
            item.setZValue(1)
            self.layers["heat"].append(item)
        if ov.outlines:
            path = QPainterPath()
            for poly in ov.outlines:
                path.addPolygon(QPolygonF([QPointF(float(x) + 0.5, float(y) + 0.5) for x, y in poly]))
                path.closeSubpath()
            pen = QPen(OUTLINE, 2)
            pen.setCosmetic(True)
            item = QGraphicsPathItem(path)
            item.setPen(pen)
            item.setZValue(2)
            sc.addItem(item)
            self.layers["outline"].append(item)
        for b in ov.boxes:
            x0, y0, x1, y1 = b.box
            pen = QPen(BOX, 2)
            pen.setCosmetic(True)
            rect = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0))
            rect.setPen(pen)
            rect.setZValue(3)
            sc.addItem(rect)
            self.layers["boxes"].append(rect)
            if b.text:
                label = LabelItem(b.text, QPointF(x0, y0))
                label.setPos(x0, y0)
                label.setZValue(4)
                sc.addItem(label)
                self.layers["boxes"].append(label)
        for b in ov.dropped:
            x0, y0, x1, y1 = b.box
            pen = QPen(DROPPED, 1, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            rect = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0))
            rect.setPen(pen)
            rect.setZValue(2.5)  # under the kept boxes
            sc.addItem(rect)
            self.layers["dropped"].append(rect)
            if b.text:
                label = LabelItem(b.text, QPointF(x0, y0), color=DROPPED)
                label.setPos(x0, y0)
                label.setZValue(2.6)
                sc.addItem(label)
                self.layers["dropped"].append(label)
        for name, items in self.layers.items():
            for it in items:
                it.setVisible(self.visible[name])
        self._place_labels()

    def _place_labels(self) -> None:
        """Keep each label inside the image at the current zoom: labels keep their screen size,
        so a box at the top or right edge gets its label moved in (below the edge, or left)."""
        if self._image_item is None:
            return
        zoom = self.zoom() or 1.0
        iw, ih = self._image_item.pixmap().width(), self._image_item.pixmap().height()
        for item in self.layers["boxes"] + self.layers["dropped"]:
            if not isinstance(item, LabelItem):
                continue
            r = item.boundingRect()  # screen pixels; the plate spans y in [-h, 0] from its position
            w, h = r.width() / zoom, r.height() / zoom
            x = min(max(item.anchor.x(), 0.0), max(0.0, iw - w))
            y = min(max(item.anchor.y(), h), max(h, float(ih)))
            item.setPos(x, y)

    def set_layer_visible(self, name: str, on: bool) -> None:
        self.visible[name] = on
        for it in self.layers[name]:
            it.setVisible(on)

    # --- zoom ------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self._fit = True
        if self._image_item is not None:
            self.fitInView(self._image_item, Qt.AspectRatioMode.KeepAspectRatio)
            self._place_labels()
            self.zoom_changed.emit(self.zoom())

    def one_to_one(self) -> None:
        self._fit = False
        self.resetTransform()
        self._place_labels()
        self.zoom_changed.emit(1.0)

    def zoom_by(self, factor: float) -> None:
        z = self.zoom() * factor
        if 0.02 <= z <= 40:
            self._fit = False
            self.scale(factor, factor)
            self._place_labels()
            self.zoom_changed.emit(self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        if self._image_item is None:
            return
        self.zoom_by(1.25 if event.angleDelta().y() > 0 else 0.8)

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    def drawForeground(self, p: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt override
        if self._image_item is None and self.empty_text:
            p.save()
            p.resetTransform()
            p.setPen(QColor("#c9d1d9"))
            f = p.font()
            f.setPointSizeF(f.pointSizeF() * 1.3)
            p.setFont(f)
            p.drawText(self.viewport().rect().adjusted(20, 20, -20, -20),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
            p.restore()
