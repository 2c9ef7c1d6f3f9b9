"""The big OK / NG banner: colour AND words, readable from a metre away.

It also carries plain messages in the verdict's place (camera problems, "fitting…"), so the
operator always looks at the same spot.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

STYLES = {  # state: (background, text colour, word)
    "OK": ("#1b7f3b", "#ffffff", "✔ OK"),
    "NG": ("#c62828", "#ffffff", "✖ NG"),
    "RECHECK": ("#e08a00", "#1d1d1d", "? RECHECK"),  # amber: borderline, a person decides
    "message": ("#f2b01e", "#1d1d1d", ""),
    "busy": ("#5c6b7a", "#ffffff", ""),
    "idle": ("#e3e6ea", "#44505c", ""),
}


class VerdictBanner(QWidget):
    """Shows one state: idle, OK, NG, busy or message; `detail` is the second line."""

    def __init__(self, parent: Optional[QWidget] = None, min_height: int = 110) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(min_height)
        self.state = "idle"
        self.title = "No verdict yet"
        self.detail = ""
        self.setAccessibleName("verdict banner")

    def sizeHint(self) -> QSize:
        return QSize(360, self.minimumHeight())

    def text(self) -> str:
        """What the banner says, as plain text (tests and accessibility)."""
        word = STYLES[self.state][2] or self.title
        return f"{word} {self.detail}".strip()

    def show_verdict(self, verdict: str, score: float, threshold: float, extra: str = "") -> None:
        self.state = verdict if verdict in ("NG", "RECHECK") else "OK"
        self.title = verdict
        self.detail = f"score {score:.2f}\nthreshold {threshold:.2f}" + (f"\n{extra}" if extra else "")
        self._changed()

    def show_message(self, title: str, detail: str = "", busy: bool = False) -> None:
        self.state = "busy" if busy else "message"
        self.title, self.detail = title, detail
        self._changed()

    def clear(self, title: str = "No verdict yet", detail: str = "") -> None:
        self.state, self.title, self.detail = "idle", title, detail
        self._changed()

    def _changed(self) -> None:
        self.setAccessibleDescription(self.text())
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        bg, fg, word = STYLES[self.state]
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(bg))
        p.drawRoundedRect(r, 8, 8)
        p.setPen(QColor(fg))
        h = r.height()
        pad = max(10.0, h * 0.12)
        inner = r.adjusted(pad, pad * 0.6, -pad, -pad * 0.6)
        if word:  # verdict: huge word left, details right
            f = QFont(self.font())
            f.setBold(True)
            f.setPixelSize(int(min(h * 0.55, inner.width() * 0.16 * 4 / max(len(word), 4))))  # RECHECK fits too
            p.setFont(f)
            word_w = p.fontMetrics().horizontalAdvance(word) + pad
            p.drawText(QRectF(inner.left(), inner.top(), word_w, inner.height()),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, word)
            self._draw_detail(p, QRectF(inner.left() + word_w + pad, inner.top(),
                                        inner.width() - word_w - pad, inner.height()), h, 0.22)
        else:  # message: title line + detail
            f = QFont(self.font())
            f.setBold(True)
            f.setPixelSize(int(min(h * 0.3, 40)))
            p.setFont(f)
            title_h = p.fontMetrics().height()
            title = p.fontMetrics().elidedText(self.title, Qt.TextElideMode.ElideRight, int(inner.width()))
            top = inner.top() if self.detail else inner.center().y() - title_h / 2
            p.drawText(QRectF(inner.left(), top, inner.width(), title_h),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
            if self.detail:
                self._draw_detail(p, QRectF(inner.left(), inner.top() + title_h + 4, inner.width(),
                                            inner.height() - title_h - 4), h, 0.15, wrap=True)
        p.end()

    def _draw_detail(self, p: QPainter, rect: QRectF, h: float, scale: float, wrap: bool = False) -> None:
        """Detail lines in the largest font (up to h*scale px) that fits `rect`; then elided."""
        f = QFont(self.font())
        lines = self.detail.split("\n")
        size = int(min(h * scale, 30))
        while size > 11:
            f.setPixelSize(size)
            p.setFont(f)
            fm = p.fontMetrics()
            if wrap:
                needed = fm.boundingRect(rect.toRect(), int(Qt.TextFlag.TextWordWrap), self.detail).height()
                if needed <= rect.height():
                    break
            elif (len(lines) * fm.lineSpacing() <= rect.height()  # the first two lines must fit;
                  and max(fm.horizontalAdvance(line) for line in lines[:2]) <= rect.width()):  # others elide
                break
            size -= 1
        f.setPixelSize(size)
        p.setFont(f)
        fm = p.fontMetrics()
        if wrap:
            p.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                       self.detail)
            return
        text = "\n".join(fm.elidedText(line, Qt.TextElideMode.ElideMiddle, int(rect.width())) for line in lines)
        p.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
