"""Legend of the heatmap's fixed colour scale (0 .. HEAT_MAX, 1.0 = pixel threshold)."""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from ...core.overlay import HEAT_MAX, heatmap_rgb


class HeatLegend(QWidget):
    """A gradient bar drawn from the same colour map as the overlays, with labelled ticks."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(44)
        self.setToolTip("Heatmap colour scale, the same for every image of this product: "
                        "blue = like the good references, 1.0 = pixel threshold, red = far above it.")
        steps = np.linspace(0.0, HEAT_MAX, 32, dtype=np.float32)[None, :]
        self._colours = [QColor(*map(int, c)) for c in heatmap_rgb(steps)[0]]

    def sizeHint(self) -> QSize:
        return QSize(240, 44)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        fm = p.fontMetrics()
        bar = QRectF(8, 4, self.width() - 16, max(10, self.height() - fm.height() - 10))
        g = QLinearGradient(bar.topLeft(), bar.topRight())
        for i, c in enumerate(self._colours):
            g.setColorAt(i / (len(self._colours) - 1), c)
        p.fillRect(bar, g)
        p.setPen(self.palette().windowText().color())
        y = bar.bottom() + 2
        for value, text, align in ((0.0, "0 good", Qt.AlignmentFlag.AlignLeft),
                                   (1.0, "1.0 threshold", Qt.AlignmentFlag.AlignHCenter),
                                   (HEAT_MAX, f"{HEAT_MAX:.0f}+", Qt.AlignmentFlag.AlignRight)):
            x = bar.left() + bar.width() * value / HEAT_MAX
            p.drawLine(int(x), int(bar.top()), int(x), int(bar.bottom() + 2))
            w = fm.horizontalAdvance(text) + 4
            left = {Qt.AlignmentFlag.AlignLeft: x, Qt.AlignmentFlag.AlignRight: x - w}.get(align, x - w / 2)
            p.drawText(QRectF(left, y, w, fm.height()), align, text)
        p.end()
