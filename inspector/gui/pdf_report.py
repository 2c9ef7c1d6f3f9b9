"""PDF report of a period's inspections, drawn with QPdfWriter (runs in a worker).

Page 1: product, period, counts (inspected, OK, NG, NG rate, flags) per product; the setup
(engine and version, threshold, station, operator) per product; then example NG images with
their regions outlined, two per row, each captioned with its file, score, threshold and engine.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPageLayout, QPageSize, QPainter, QPdfWriter, QPen, QPolygonF

from ..core.errors import InspectorError
from ..core.image_io import load_image
from ..core.progress import CancelFn, ProgressFn, check_cancel, report
from ..services.records import InspectionInfo
from .overlay_data import overlay_from_record
from .qt_images import qimage_view, thumbnail_array
from .tabs.history_model import local_time

MAX_EXAMPLES = 6
DPI = 96


def _counts(records: list[InspectionInfo]) -> list[tuple[str, int, int, int, int, int, int]]:
    """(product, inspected, OK, NG, RECHECK, false rejects, missed defects) per product + total."""
    rows = []
    products = sorted({r.product for r in records})
    for name in products + (["All products"] if len(products) > 1 else []):
        sel = [r for r in records if name == "All products" or r.product == name]
        flags = Counter(r.flag for r in sel)
        ng = sum(r.verdict == "NG" for r in sel)
        recheck = sum(r.verdict == "RECHECK" for r in sel)  # borderline: neither OK nor NG
        rows.append((name, len(sel), len(sel) - ng - recheck, ng, recheck, flags["false_reject"],
                     flags["missed_defect"]))
    return rows


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}–{hi:.2f}"


def _words(values: list[str]) -> str:
    kept = sorted({v for v in values if v})
    return ", ".join(kept[:4]) + (f" (+{len(kept) - 4})" if len(kept) > 4 else "") if kept else "–"


def _setup(records: list[InspectionInfo]) -> list[list[str]]:
    """Per product: engine and version(s), threshold(s) used, stations, operators."""
    rows = []
    for name in sorted({r.product for r in records}):
        sel = [r for r in records if r.product == name]
        engines = _words([f"{r.engine_id} {r.engine_version}" for r in sel])
        rows.append([name, engines, _span([r.threshold for r in sel]), _words([r.station for r in sel]),
                     _words([r.operator for r in sel])])
    return rows


def write_report(root: Path, records: list[InspectionInfo], path: Path, title: str, period: str,
                 station: str = "", progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelFn] = None, layout: Optional[list] = None,
                 audit: Optional[tuple[int, list]] = None) -> Path:
    """Write the report for `records` (inspections under workspace `root`) to `path`.

    `audit`, when given, is (number of changes in the period, the newest AuditInfo rows): a short
    "Changes" section says who changed what.

    `layout`, when given, receives (kind, page, QRectF) of every drawn block ("cell", "image",
    "caption"; rectangles in page pixels at DPI) so tests can check nothing overlaps or is cut.
    """
    path = Path(path)
    if path.suffix.lower() != ".pdf":
        path = path.with_suffix(".pdf")
    if not path.parent.is_dir():
        raise InspectorError(f"cannot write {path}: folder {path.parent} does not exist")
    writer = QPdfWriter(str(path))
    writer.setResolution(DPI)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    writer.setTitle(title)
    writer.setCreator("Inspector")
    p = QPainter()
    if not p.begin(writer):
        raise InspectorError(f"cannot write {path}: is it open in another program or read-only?")
    try:
        _Report(p, writer, layout if layout is not None else []).draw(root, records, title, period, station,
                                                                       progress, cancel, audit)
    finally:
        p.end()
    return path


WRAP = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap)


class _Report:
    """Draws top to bottom; every block is measured before it is drawn, so nothing is cut or covered."""

    def __init__(self, p: QPainter, writer: QPdfWriter, layout: list) -> None:
        self.p, self.writer, self.layout = p, writer, layout
        rect = writer.pageLayout().paintRectPixels(DPI)
        self.width, self.height = float(rect.width()), float(rect.height())
        self.y = 0.0
        self.page = 0

    def font(self, size: float, bold: bool = False) -> None:
        f = QFont("Sans Serif")
        f.setPointSizeF(size)
        f.setBold(bold)
        self.p.setFont(f)

    def measure(self, text: str, width: float) -> float:
        return float(self.p.boundingRect(QRectF(0, 0, width, 1e6), WRAP, text).height())

    def room(self, height: float) -> None:
        """Start a new page unless `height` still fits below y."""
        if self.y > 0 and self.y + height > self.height:
            self.writer.newPage()
            self.page += 1
            self.y = 0.0

    def text(self, s: str, size: float, bold: bool = False, colour: str = "#000000", gap: float = 4) -> None:
        self.font(size, bold)
        h = self.measure(s, self.width)
        self.room(h)
        self.p.setPen(QColor(colour))
        self.p.drawText(QRectF(0, self.y, self.width, h), WRAP, s)
        self.y += h + gap

    def table(self, headers: list[str], rows: list[list[str]], shares: list[float]) -> None:
        """Columns of `shares` of the page width; cells wrap at words and rows grow to fit them."""
        widths = [self.width * f for f in shares]
        for i, cells in enumerate([headers, *rows]):
            self.font(9.5, bold=i == 0)
            pad = 3.0
            h = max(self.measure(c, w - 2 * pad) for c, w in zip(cells, widths)) + 2 * pad
            self.room(h)
            x = 0.0
            self.p.setPen(QColor("#000000"))
            for c, w in zip(cells, widths):
                box = QRectF(x + pad, self.y + pad, w - 2 * pad, h - 2 * pad)
                self.p.drawText(box, WRAP, c)
                self.layout.append(("cell", self.page, box, self.p.boundingRect(box, WRAP, c)))
                x += w
            self.p.setPen(QPen(QColor("#bbbbbb"), 1))
            self.p.drawLine(QPointF(0, self.y + h), QPointF(x, self.y + h))
            self.y += h
        self.y += 14

    def draw(self, root: Path, records: list[InspectionInfo], title: str, period: str, station: str,
             progress: Optional[ProgressFn], cancel: Optional[CancelFn],
             audit: Optional[tuple[int, list]] = None) -> None:
        self.text(title, 18, bold=True)
        self.text(f"Period: {period}", 11)
        self.text(f"Generated {datetime.now():%Y-%m-%d %H:%M}" + (f" at station {station}" if station else ""),
                  9, colour="#555555", gap=12)
        self.table(["Product", "Inspected", "OK", "NG", "Recheck", "NG rate", "False rejects", "Missed defects"],
                   [[name, str(n), str(ok), str(ng), str(rc), f"{ng / n:.1%}" if n else "–", str(fr), str(md)]
                    for name, n, ok, ng, rc, fr, md in _counts(records)],
                   [0.19, 0.12, 0.08, 0.08, 0.11, 0.11, 0.155, 0.155])
        if records:
            self.text("Setup", 13, bold=True)
            self.table(["Product", "Engine and version", "Threshold", "Station", "Operator"], _setup(records),
                       [0.22, 0.26, 0.14, 0.19, 0.19])
        if audit is not None:
            self._audit(*audit)
        ng_records = [r for r in records if r.verdict == "NG" and r.image_path][:MAX_EXAMPLES]
        self.text("Example NG images" if ng_records else "No NG images in this period.", 13, bold=True)
        gap = 16.0
        cell_w = (self.width - gap) / 2
        for start in range(0, len(ng_records), 2):
            pair = ng_records[start:start + 2]
            check_cancel(cancel)
            report(progress, start, len(ng_records), f"drawing example {start + 1} of {len(ng_records)}")
            loaded = [_load(root, rec) for rec in pair]
            image_h = max((cell_w * img.shape[0] / img.shape[1]) if img is not None else 40.0
                          for img, _ in loaded)
            image_h = min(image_h, cell_w * 0.75)
            self.font(8)
            captions = [_caption(rec, overlay) for rec, (_img, overlay) in zip(pair, loaded)]
            caption_h = max(self.measure(c, cell_w) for c in captions)
            self.room(image_h + 4 + caption_h + gap)
            for col, (rec, (img, overlay), caption) in enumerate(zip(pair, loaded, captions)):
                x = col * (cell_w + gap)
                self._example(img, overlay, rec, QRectF(x, self.y, cell_w, image_h))
                self.font(8)
                self.p.setPen(QColor("#000000"))
                box = QRectF(x, self.y + image_h + 4, cell_w, caption_h)
                self.p.drawText(box, WRAP, caption)
                self.layout.append(("caption", self.page, box, self.p.boundingRect(box, WRAP, caption)))
            self.y += image_h + 4 + caption_h + gap
        report(progress, len(ng_records), len(ng_records), "report written")

    def _audit(self, count: int, rows: list) -> None:
        """Changes of recipes, references, thresholds and settings in the period (audit trail)."""
        self.text("Changes (audit trail)", 13, bold=True)
        if not count:
            self.text("No recipe, reference, threshold or setting changes in this period.", 10, gap=12)
            return
        shown = f"; the last {len(rows)}:" if len(rows) < count else ":"
        self.text(f"{count} change(s) in this period{shown}", 10)
        self.table(["Time", "Who", "Product", "What", "Old → new"],
                   [[f"{local_time(r.created_at):%Y-%m-%d %H:%M}",
                     f"{r.user} ({r.role})" if r.role else r.user, r.product_name or "–", r.what,
                     f"{r.old_value[:60]} → {r.new_value[:60]}"] for r in rows],
                   [0.17, 0.17, 0.14, 0.15, 0.37])

    def _example(self, image, overlay, rec: InspectionInfo, box: QRectF) -> None:  # noqa: ANN001
        p = self.p
        if image is None:
            p.setPen(QColor("#000000"))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, overlay)
            self.layout.append(("image", self.page, box, box))
            return
        h, w = image.shape[:2]
        small = thumbnail_array(image, 900)  # keeps the PDF small; overlay scaled to match
        scale = min(box.width() / w, box.height() / h)
        target = QRectF(box.left(), box.top(), w * scale, h * scale)
        p.drawImage(target, qimage_view(small))
        self.layout.append(("image", self.page, target, target))
        p.save()
        p.translate(target.topLeft())
        p.scale(scale, scale)
        p.setPen(QPen(QColor(255, 40, 40), 2 / scale))
        for poly in overlay.outlines:
            p.drawPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in poly]))
        p.setPen(QPen(QColor(255, 190, 0), 2 / scale))
        for b in overlay.boxes:
            x0, y0, x1, y1 = b.box
            p.drawRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        p.restore()


def _load(root: Path, rec: InspectionInfo):  # noqa: ANN202 - (image or None, overlay or the reason)
    try:
        image = load_image(root / rec.image_path)
    except InspectorError as exc:
        return None, f"image unavailable: {exc}"
    return image, overlay_from_record(rec, image.shape[:2], root)


def _caption(rec: InspectionInfo, overlay) -> str:  # noqa: ANN001
    labels = "; ".join(b.text for b in overlay.boxes[:3]) if not isinstance(overlay, str) else ""
    who = " · ".join(v for v in (f"station {rec.station}" if rec.station else "",
                                 f"operator {rec.operator}" if rec.operator else "") if v)
    return (f"{rec.original_name or '(camera frame)'}\n"
            f"{rec.product} · {local_time(rec.created_at):%Y-%m-%d %H:%M} · score {rec.score:.2f} / threshold "
            f"{rec.threshold:.2f} · {rec.engine_id} {rec.engine_version}" + (f"\n{who}" if who else "")
            + (f"\n{labels}" if labels else ""))
