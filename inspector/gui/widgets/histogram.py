"""Histogram of good-image scores with the threshold line (drawn with QPainter)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ...core.thresholds import histogram


class ScoreHistogram(QWidget):
    """Bars: held-out good scores; red line: the image threshold (NG at or above it); amber: the
    recheck band around it (RECHECK inside), when one is set."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(220, 150)
        self.scores: list[float] = []
        self.threshold: Optional[float] = None
        self.band = 0.0  # recheck band, a fraction of the threshold (0: none)
        self.empty_text = "Fit the product to see its good-image scores"

    def sizeHint(self) -> QSize:
        return QSize(320, 200)

    def set_data(self, scores: Sequence[float], threshold: Optional[float]) -> None:
        self.scores = [float(s) for s in scores]
        self.threshold = threshold
        self.update()

    def set_threshold(self, threshold: Optional[float]) -> None:
        self.threshold = threshold
        self.update()

    def set_band(self, band: float) -> None:
        self.band = max(0.0, float(band))
        self.update()

    def band_edges(self) -> Optional[tuple[float, float]]:
        if self.threshold is None or self.band <= 0:
            return None
        half = self.band * abs(self.threshold)
        return self.threshold - half, self.threshold + half

    def _range(self) -> tuple[float, float]:
        values = self.scores + ([self.threshold] if self.threshold is not None else []) + list(self.band_edges() or ())
        lo, hi = min(values), max(values)
        pad = (hi - lo) * 0.08 or max(abs(hi) * 0.1, 1e-3)
        return lo - pad, hi + pad

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        fm = p.fontMetrics()
        if not self.scores:
            p.setPen(pal.placeholderText().color())
            p.drawText(self.rect().adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.empty_text)
            p.end()
            return
        lo, hi = self._range()
        plot = QRectF(10, 2 * fm.height() + 10, self.width() - 20, self.height() - 3 * fm.height() - 18)
        bins = int(np.clip(len(self.scores) // 2, 5, 30))
        counts, edges = histogram(self.scores, bins=bins)
        top = max(counts) or 1

        def x_of(v: float) -> float:
            return plot.left() + (v - lo) / (hi - lo) * plot.width()

        edges_band = self.band_edges()
        if edges_band is not None:
            x0, x1 = x_of(edges_band[0]), x_of(edges_band[1])
            p.fillRect(QRectF(x0, plot.top(), x1 - x0, plot.height()), QColor(224, 138, 0, 60))
            p.setPen(QPen(QColor("#b26a00"), 1, Qt.PenStyle.DashLine))
            for x in (x0, x1):
                p.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
        bar_colour = QColor("#4a78b5")
        for c, e0, e1 in zip(counts, edges[:-1], edges[1:]):
            if c:
                h = c / top * plot.height()
                p.fillRect(QRectF(x_of(e0), plot.bottom() - h, max(1.0, x_of(e1) - x_of(e0) - 1), h), bar_colour)
        p.setPen(QPen(pal.windowText().color(), 1))
        p.drawLine(QPointF(plot.left(), plot.bottom()), QPointF(plot.right(), plot.bottom()))
        y_text = plot.bottom() + 4
        p.drawText(QRectF(plot.left(), y_text, 80, fm.height()), Qt.AlignmentFlag.AlignLeft, f"{lo:.2f}")
        p.drawText(QRectF(plot.right() - 80, y_text, 80, fm.height()), Qt.AlignmentFlag.AlignRight, f"{hi:.2f}")
        p.drawText(QRectF(plot.left(), 2, plot.width(), fm.height()), Qt.AlignmentFlag.AlignLeft,
                   f"{len(self.scores)} good-image scores (held out)")
        if self.threshold is not None:
            x = x_of(self.threshold)
            p.fillRect(QRectF(x, plot.top(), plot.right() - x, plot.height()), QColor(198, 40, 40, 28))
            p.setPen(QPen(QColor("#c62828"), 2))
            p.drawLine(QPointF(x, plot.top() - 2), QPointF(x, plot.bottom()))
            label = f"threshold {self.threshold:.2f} → NG"
            w = fm.horizontalAdvance(label) + 6
            left = min(max(plot.left(), x - w / 2), plot.right() - w)
            p.setPen(QColor("#c62828"))
            p.drawText(QRectF(left, fm.height() + 4, w, fm.height()), Qt.AlignmentFlag.AlignLeft, label)
        p.end()
