"""Paints the newest live frame straight from its numpy buffer (no QPixmap conversion)."""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from ...camera.rates import FpsMeter
from ..qt_images import qimage_view


class LiveCanvas(QWidget):
    """Aspect-fit display of the latest frame; `displayed_fps` counts frames actually painted."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.meter = FpsMeter()
        self.empty_text = "Choose a source and press Start (Space)"
        self.caption = ""
        self._array: Optional[np.ndarray] = None  # keeps the QImage's memory alive
        self._image: Optional[QImage] = None
        self._serial = 0
        self._painted = -1

    def sizeHint(self) -> QSize:
        return QSize(800, 600)

    def set_frame(self, image: Optional[np.ndarray]) -> None:
        self._array = image
        self._image = qimage_view(image) if image is not None else None
        self._serial += 1
        self.update()

    def displayed_fps(self) -> float:
        return self.meter.fps()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#1f2327"))
        if self._image is None:
            p.setPen(QColor("#c9d1d9"))
            f = p.font()
            f.setPointSizeF(f.pointSizeF() * 1.4)
            p.setFont(f)
            p.drawText(self.rect().adjusted(20, 20, -20, -20),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
            p.end()
            return
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        # smooth scaling only where it is cheap; big frames are shrunk with the fast path
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, iw * ih <= 1_000_000)
        p.drawImage(target, self._image)
        if self.caption:
            fm = p.fontMetrics()
            box = QRectF(8, 8, fm.horizontalAdvance(self.caption) + 16, fm.height() + 8)
            p.fillRect(box, QColor(0, 0, 0, 150))
            p.setPen(QColor("white"))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, self.caption)
        p.end()
        if self._painted != self._serial:
            self._painted = self._serial
            self.meter.tick()
