"""History tab: filter inspections, review one with its regions, flag, export CSV / PDF."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time as dtime, timedelta, timezone
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDateEdit, QFileDialog, QHBoxLayout, QHeaderView,
                               QLabel, QPushButton, QSplitter, QStackedLayout, QTableView, QTabWidget, QVBoxLayout,
                               QWidget)

from ...core.errors import InspectorError
from ...core.image_io import load_image
from ...core.result import region_caption
from ...services.audit import count_audit, list_audit
from ...services.inspections import export_history_csv, flag_inspection, query_history
from ...services.records import InspectionInfo
from ..image_view import ImageView
from ..overlay_data import overlay_from_record
from ..pdf_report import write_report
from ..state import AppState
from ..widgets.empty_state import EmptyState
from ..widgets.error_dialog import show_error
from ..widgets.progress_panel import ProgressPanel
from ..workers import run_task
from .audit_view import AuditView
from .history_model import FLAG_WORDS, IMAGE_COLUMN, HistoryModel, local_time
from .result_panel import ResultPanel, ViewControls

LIMIT = 5000
AUDIT_IN_REPORT = 8  # the newest changes listed in the PDF report
PERIODS = ["All time", "Today", "Last 7 days", "Last 30 days", "Custom range"]


def to_utc(local: datetime) -> datetime:
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def load_record_view(root: Path, rec: InspectionInfo):  # noqa: ANN201 - (image, overlay)
    """Worker: the stored image and the outline/boxes of its stored regions."""
    if not rec.image_path:
        raise InspectorError("this inspection was recorded without its image")
    image = load_image(root / rec.image_path)
    return image, overlay_from_record(rec, image.shape[:2], root)


class HistoryTab(QWidget):
    title = "History"

    def __init__(self, state: AppState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self._query_serial = 0
        self.product = QComboBox()
        self.verdict = QComboBox()
        self.verdict.addItems(["All verdicts", "NG", "OK", "RECHECK"])
        self.source = QComboBox()
        self.source.addItem("All sources", None)
        for s, label in (("camera", "Live camera"), ("batch", "Folder / batch"), ("file", "Single file")):
            self.source.addItem(label, s)
        self.flag = QComboBox()
        self.flag.setObjectName("flagFilter")
        for label, value in (("Flagged or not", None), ("Flagged only", "any"), ("False rejects", "false_reject"),
                             ("Missed defects", "missed_defect"), ("Not flagged", "")):
            self.flag.addItem(label, value)
        self.period = QComboBox()
        self.period.addItems(PERIODS)
        self.since = QDateEdit(QDate.currentDate().addDays(-7))
        self.until = QDateEdit(QDate.currentDate())
        for d in (self.since, self.until):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self.csv_btn = QPushButton("Export CSV…")
        self.csv_btn.clicked.connect(self.export_csv_dialog)
        self.pdf_btn = QPushButton("PDF report…")
        self.pdf_btn.clicked.connect(self.export_pdf_dialog)
        filters = QHBoxLayout()
        self.to_label = QLabel("to")
        for w in (QLabel("Product"), self.product, self.verdict, self.source, self.flag, self.period, self.since,
                  self.to_label, self.until, refresh):
            filters.addWidget(w)
        filters.addStretch(1)
        filters.addWidget(self.csv_btn)
        filters.addWidget(self.pdf_btn)

        self.model = HistoryModel()
        self.table = QTableView()
        self.table.setObjectName("historyTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(IMAGE_COLUMN, QHeaderView.ResizeMode.Interactive)  # long names elide
        header.resizeSection(IMAGE_COLUMN, 170)
        header.setStretchLastSection(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setSortingEnabled(True)  # header clicks call HistoryModel.sort
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _prev: self.show_row(cur.row()))
        self.summary = QLabel()
        self.summary.setObjectName("historySummary")
        self.progress = ProgressPanel()
        self.empty = EmptyState("No inspections match these filters",
                                detail="Inspect images (Inspect tab) or run the Live tab to fill the history, "
                                       "or widen the filters above.")
        table_box = QWidget()
        self.table_stack = QStackedLayout(table_box)
        self.table_stack.addWidget(self.table)
        self.table_stack.addWidget(self.empty)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(table_box, 1)
        ll.addWidget(self.summary)
        ll.addWidget(self.progress)

        self.view = ImageView(empty_text="Select an inspection to see its image and regions")
        self.panel = ResultPanel(on_flag=self.set_flag, legend=False)
        self.panel.banner.setMinimumHeight(90)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.panel)
        rl.addWidget(ViewControls(self.view, heat=False))
        rl.addWidget(self.view, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("historySplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setSizes([760, 500])
        inspections = QWidget()
        il = QVBoxLayout(inspections)
        il.setContentsMargins(0, 0, 0, 0)
        il.addLayout(filters)
        il.addWidget(self.splitter, 1)
        self.audit = AuditView(state)  # who changed recipes, thresholds and settings
        self.views = QTabWidget()
        self.views.setObjectName("historyViews")
        self.views.addTab(inspections, "Inspections")
        self.views.addTab(self.audit, "Audit")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.views)

        QShortcut(QKeySequence("F"), self, lambda: self._toggle_flag("false_reject"))
        QShortcut(QKeySequence("M"), self, lambda: self._toggle_flag("missed_defect"))
        self.period.currentIndexChanged.connect(self._period_changed)
        self.product.activated.connect(self._product_picked)
        self._all_products = False  # the user chose "All products": stay there, do not follow the toolbar
        for combo in (self.product, self.verdict, self.source, self.flag, self.period):
            combo.currentIndexChanged.connect(self.refresh)
        for d in (self.since, self.until):
            d.dateChanged.connect(self.refresh)
        state.products_changed.connect(self._fill_products)
        state.product_changed.connect(self._follow_product)
        self._period_changed()
        self._fill_products()

    # --- filters -------------------------------------------------------------------------------
    def _fill_products(self) -> None:
        current = self.product.currentData()
        self.product.blockSignals(True)
        self.product.clear()
        self.product.addItem("All products", None)
        for name in self.state.product_names():
            self.product.addItem(name, name)
        idx = 0 if self._all_products else self.product.findData(current if current else self.state.product)
        self.product.setCurrentIndex(max(0, idx))
        self.product.blockSignals(False)

    def _product_picked(self, index: int) -> None:
        self._all_products = index == 0

    def show_all_products(self) -> None:
        self._all_products = True
        self.product.setCurrentIndex(0)

    def _follow_product(self, name: str) -> None:
        if self._all_products:
            return
        idx = self.product.findData(name) if name else 0
        if idx >= 0:
            self.product.setCurrentIndex(idx)

    def _period_changed(self) -> None:
        custom = self.period.currentText() == "Custom range"
        for w in (self.since, self.to_label, self.until):
            w.setVisible(custom)

    def filters(self) -> dict:
        now = datetime.now().astimezone()
        midnight = datetime.combine(now.date(), dtime.min).astimezone()
        since = until = None
        period = self.period.currentText()
        if period == "Today":
            since = midnight
        elif period == "Last 7 days":
            since = midnight - timedelta(days=6)
        elif period == "Last 30 days":
            since = midnight - timedelta(days=29)
        elif period == "Custom range":
            since = datetime.combine(self.since.date().toPython(), dtime.min).astimezone()
            until = datetime.combine(self.until.date().toPython(), dtime.min).astimezone() + timedelta(days=1)
        verdict = self.verdict.currentText()
        return dict(product=self.product.currentData(), verdict=None if verdict.startswith("All") else verdict,
                    source=self.source.currentData(), since=to_utc(since) if since else None,
                    until=to_utc(until) if until else None, flag=self.flag.currentData())

    def period_text(self) -> str:
        f = self.filters()
        if f["since"] is None and f["until"] is None:
            if not self.model.records:
                return "all time"
            times = [r.created_at for r in self.model.records]
            first, last = min(times), max(times)
            return f"{local_time(first):%Y-%m-%d %H:%M} to {local_time(last):%Y-%m-%d %H:%M}"
        until = local_time(f["until"]) - timedelta(seconds=1) if f["until"] else datetime.now()
        return f"{local_time(f['since']):%Y-%m-%d} to {until:%Y-%m-%d}"

    # --- query -----------------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override: fresh on every visit
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        if self.state.workspace is None:
            self.model.set_records([])
            self.summary.setText("No workspace open.")
            return
        self._query_serial += 1
        serial = self._query_serial
        run_task(self, query_history, self.state.workspace, hooks=False, limit=LIMIT, **self.filters(),
                 on_result=lambda recs, s=serial: s == self._query_serial and self._show(recs))

    def _show(self, records: list[InspectionInfo]) -> None:
        selected = self.selected()
        self.model.set_records(records)
        n = len(records)
        self.table_stack.setCurrentWidget(self.table if records else self.empty)
        ng = sum(r.verdict == "NG" for r in records)
        flagged = sum(bool(r.flag) for r in records)
        recheck = sum(r.verdict == "RECHECK" for r in records)
        more = f" (newest {LIMIT} shown)" if n >= LIMIT else ""
        self.summary.setText(f"{n} inspection(s){more} · {ng} NG" + (f" ({ng / n:.1%})" if n else "")
                             + (f" · {recheck} RECHECK" if recheck else "")
                             + (f" · {flagged} flagged" if flagged else "") if n else
                             "No inspections match these filters.")
        row = next((i for i, r in enumerate(records) if selected and r.id == selected.id), 0 if records else -1)
        if row >= 0:
            self.table.selectRow(row)
        else:
            self.view.set_image(None)
            self.panel.banner.clear("Nothing selected")
            self.panel.details.setText("")
            self.panel.set_flag(None)

    def selected(self) -> Optional[InspectionInfo]:
        idx = self.table.currentIndex()
        return self.model.records[idx.row()] if idx.isValid() and idx.row() < len(self.model.records) else None

    def show_row(self, row: int) -> None:
        if not 0 <= row < len(self.model.records):
            return
        r = self.model.records[row]
        self.panel.banner.show_verdict(r.verdict, r.score, r.threshold)
        regions = "; ".join(region_caption(g.label, g.score, g.area_px, long=True) for g in r.regions[:5])
        self.panel.details.setText(f"<b>{r.original_name or '(camera frame)'}</b> · {r.product} · "
                                   f"{local_time(r.created_at):%Y-%m-%d %H:%M:%S} · {r.engine_id} · "
                                   f"{r.duration_ms:.0f} ms" + (f"<br>{regions}" if regions else "")
                                   + (f"<br><b>Flag: {FLAG_WORDS[r.flag]}</b>" if r.flag else ""))
        self.panel.set_flag(r.flag, r.verdict)
        run_task(self, load_record_view, self.state.workspace.root, r, hooks=False,
                 on_result=lambda res, rid=r.id: self._show_image(rid, *res),
                 on_error=lambda m, _d: (self.view.set_image(None), setattr(self.view, "empty_text", m)))

    def _show_image(self, record_id: int, image, overlay) -> None:  # noqa: ANN001
        sel = self.selected()
        if sel is not None and sel.id == record_id:
            self.view.set_image(image, overlay)

    # --- flags -----------------------------------------------------------------------------------
    def _toggle_flag(self, flag: str) -> None:
        r = self.selected()
        if r is not None:
            self.set_flag("" if r.flag == flag else flag)

    def set_flag(self, flag: str) -> None:
        r = self.selected()
        if r is None:
            return
        try:
            flag_inspection(self.state.workspace, r.id, flag)
        except InspectorError as exc:
            show_error(self, str(exc))
            return
        row = self.table.currentIndex().row()
        self.model.replace(row, dataclasses.replace(r, flag=flag))
        self.show_row(row)

    # --- export ----------------------------------------------------------------------------------
    def _default_name(self, suffix: str) -> str:
        name = self.product.currentData() or "all-products"
        return str(Path.home() / f"inspections-{name}-{datetime.now():%Y%m%d}{suffix}")

    def export_csv_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export history as CSV", self._default_name(".csv"),
                                              "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))

    def export_csv(self, path: Path) -> None:
        records = list(self.model.records)
        task = run_task(self, export_history_csv, records, path, hooks=False,
                        on_result=lambda _r: self.summary.setText(f"Exported {len(records)} row(s) to {path}"))
        self.progress.attach(task, "Writing CSV…")

    def export_pdf_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "PDF report", self._default_name(".pdf"), "PDF (*.pdf)")
        if path:
            self.export_pdf(Path(path))

    def export_pdf(self, path: Path) -> None:
        records = list(self.model.records)
        product = self.product.currentData()
        title = f"Inspection report — {product}" if product else "Inspection report — all products"
        f = self.filters()  # the audit summary covers the same period (quick count + the last few)
        audit = (count_audit(self.state.workspace, f["since"], f["until"]),
                 list_audit(self.state.workspace, since=f["since"], until=f["until"], limit=AUDIT_IN_REPORT))
        task = run_task(self, write_report, self.state.workspace.root, records, path, title, self.period_text(),
                        self.state.station(), audit=audit,
                        on_result=lambda p: self.summary.setText(f"Report written to {p}"))
        self.progress.attach(task, "Writing the PDF report…")
