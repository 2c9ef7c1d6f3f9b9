"""PDF report of a period's inspections, drawn with QPdfWriter (runs in a worker).

Page 1: product, period, counts (inspected, OK, NG, NG rate, flags) per product; then
example NG images with their regions outlined and labelled, two per row.
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


def _counts(records: list[InspectionInfo]) -> list[tuple[str, int, int, int, int, int]]:
    """(product, inspected, OK, NG, false rejects, missed defects) per product + total."""
    rows = []
    products = sorted({r.product for r in records})
    for name in products + (["All products"] if len(products) > 1 else []):
        sel = [r for r in records if name == "All products" or r.product == name]
        flags = Counter(r.flag for r in sel)
        ng = sum(r.verdict == "NG" for r in sel)
        rows.append((name, len(sel), len(sel) - ng, ng, flags["false_reject"], flags["missed_defect"]))
    return rows


def write_report(root: Path, records: list[InspectionInfo], path: Path, title: str, period: str,
                 station: str = "", progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelFn] = None) -> Path:
    """Write the report for `records` (inspections under workspace `root`) to `path`."""
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
        _draw(p, writer, root, records, title, period, station, progress, cancel)
    finally:
        p.end()
    return path


def _draw(p: QPainter, writer: QPdfWriter, root: Path, records: list[InspectionInfo], title: str,
          period: str, station: str, progress: Optional[ProgressFn], cancel: Optional[CancelFn]) -> None:
    page = writer.pageLayout().paintRectPixels(DPI)
    width = float(page.width())
    y = 0.0

    def text(s: str, size: float, bold: bool = False, colour: str = "#000000", h: float = 0) -> float:
        f = QFont("Sans Serif")
        f.setPointSizeF(size)
        f.setBold(bold)
        p.setFont(f)
        p.setPen(QColor(colour))
        height = h or p.fontMetrics().height() * 1.3
        p.drawText(QRectF(0, y, width, height), Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap, s)
        return height

    y += text(title, 18, bold=True)
    y += text(f"Period: {period}", 11)
    y += text(f"Generated {datetime.now():%Y-%m-%d %H:%M}" + (f" · station {station}" if station else ""),
              9, colour="#555555")
    y += 12
    headers = ["Product", "Inspected", "OK", "NG", "NG rate", "False rejects", "Missed defects"]
    col_w = [width * 0.28] + [width * 0.12] * 6
    y += _row(p, y, col_w, headers, bold=True)
    for name, n, ok, ng, fr, md in _counts(records):
        y += _row(p, y, col_w, [name, str(n), str(ok), str(ng), f"{ng / n:.1%}" if n else "–", str(fr), str(md)])
    y += 16
    ng_records = [r for r in records if r.verdict == "NG" and r.image_path][:MAX_EXAMPLES]
    y += text("Example NG images" if ng_records else "No NG images in this period.", 13, bold=True)
    cell_w = (width - 16) / 2
    cell_h = cell_w * 0.75 + 40
    for i, rec in enumerate(ng_records):
        check_cancel(cancel)
        report(progress, i, len(ng_records), f"drawing example {i + 1} of {len(ng_records)}")
        col = i % 2
        if col == 0 and y + cell_h > page.height():
            writer.newPage()
            y = 0.0
        _example(p, root, rec, QRectF(col * (cell_w + 16), y, cell_w, cell_h - 40))
        if col == 1 or i == len(ng_records) - 1:
            y += cell_h
    report(progress, len(ng_records), len(ng_records), "report written")


def _row(p: QPainter, y: float, widths: list[float], cells: list[str], bold: bool = False) -> float:
    f = QFont("Sans Serif")
    f.setPointSizeF(10)
    f.setBold(bold)
    p.setFont(f)
    p.setPen(QColor("#000000"))
    h = p.fontMetrics().height() * 1.5
    x = 0.0
    for w, c in zip(widths, cells):
        p.drawText(QRectF(x + 2, y, w - 4, h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, c)
        x += w
    p.setPen(QPen(QColor("#bbbbbb"), 1))
    p.drawLine(QPointF(0, y + h), QPointF(x, y + h))
    return h


def _example(p: QPainter, root: Path, rec: InspectionInfo, box: QRectF) -> None:
    try:
        image = load_image(root / rec.image_path)
    except InspectorError as exc:
        p.drawText(box, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, f"image unavailable: {exc}")
        return
    h, w = image.shape[:2]
    overlay = overlay_from_record(rec, (h, w), root)
    small = thumbnail_array(image, 900)  # keeps the PDF small; overlay scaled to match
    scale = min(box.width() / w, box.height() / h)
    target = QRectF(box.left(), box.top(), w * scale, h * scale)
    p.drawImage(target, qimage_view(small))
    p.save()
    p.translate(target.topLeft())
    p.scale(scale, scale)
    pen = QPen(QColor(255, 40, 40), 2 / scale)
    p.setPen(pen)
    for poly in overlay.outlines:
        p.drawPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in poly]))
    p.setPen(QPen(QColor(255, 190, 0), 2 / scale))
    for b in overlay.boxes:
        x0, y0, x1, y1 = b.box
        p.drawRect(QRectF(x0, y0, x1 - x0, y1 - y0))
    p.restore()
    f = QFont("Sans Serif")
    f.setPointSizeF(8)
    p.setFont(f)
    p.setPen(QColor("#000000"))
    labels = "; ".join(b.text for b in overlay.boxes[:3])
    caption = (f"{rec.product} · {local_time(rec.created_at):%Y-%m-%d %H:%M} · score {rec.score:.2f} / "
               f"{rec.threshold:.2f}\n{rec.original_name} {labels}")
    p.drawText(QRectF(box.left(), box.top() + h * scale + 4, box.width(), 36),
               Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap, caption)
