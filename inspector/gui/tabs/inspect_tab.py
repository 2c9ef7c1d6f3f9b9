"""Inspect tab: open images or a folder, inspect in a worker, review results as they come."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QSplitter, QVBoxLayout, QWidget)

from ...core.errors import ImageError, InspectorError, user_message
from ...core.image_io import load_image
from ...core.result import region_caption
from ...services.inspect import check_batch, detector_for, inspect_paths
from ...services.inspections import flag_inspection
from ...services.references import expand_with_names
from ..image_view import ImageView
from ..overlay_data import BoxLabel, OverlayData, overlay_from_result
from ..state import AppState
from ..widgets.detector_line import DetectorLine
from ..widgets.elided_label import ElidedLabel
from ..widgets.error_dialog import show_error
from ..widgets.progress_panel import ProgressPanel
from ..workers import run_task
from .result_panel import FLAG_TEXT, ResultPanel, ViewControls

KEEP_IMAGES = 60  # full images + heatmaps kept for quick review; older ones reload from disk


@dataclass
class Entry:
    path: Path
    verdict: str
    score: float
    threshold: float
    ms: float
    record_id: Optional[int]
    outlines: list[np.ndarray]
    boxes: list[BoxLabel]
    flag: str = ""
    regions: list[str] = field(default_factory=list)
    name: str = ""  # shown in the list: the path below the opened folder ("scratch/003.png")
    row: int = -1  # its row in the results list (skipped files have rows too)
    dropped: list[BoxLabel] = field(default_factory=list)  # candidates the engine filtered out
    ignored: list[BoxLabel] = field(default_factory=list)  # the recipe's ignore regions (not inspected)


def inspect_job(ws, product: str, paths: list[Path], device: str, record: bool, station: str,  # noqa: ANN001
                operator: str, progress=None, cancel=None) -> Iterator[tuple]:  # noqa: ANN001
    """Worker: ("note", text) once, then ("item", Entry, image, heat RGBA) per image, or
    ("skipped", name, reason) for a file that could not be read."""
    single = len(paths) == 1 and Path(paths[0]).is_file()
    try:
        named = check_batch(paths)  # a batch that cannot be inspected must not refit the product
    except ImageError:  # nothing readable: list every file as skipped, fit nothing
        for f, name in expand_with_names(paths):
            try:
                load_image(f)
            except (ImageError, OSError) as exc:
                yield ("skipped", name, user_message(exc) or str(exc))
        return
    det, note = detector_for(ws, product, device=device, progress=progress, cancel=cancel)
    if note:
        yield ("note", note)
    source = "file" if single else "batch"
    for item in inspect_paths(ws, product, paths, det, named=named, source=source, record=record, station=station,
                              operator=operator, progress=progress, cancel=cancel):
        if item.error:  # "PATH: why" -> "why": the row already names the file
            yield ("skipped", item.name, item.error.removeprefix(f"{item.path}: "))
            continue
        r = item.result
        ov = overlay_from_result(r)
        entry = Entry(item.path, r.verdict, r.score, r.threshold, r.timings_ms.get("total", 0.0),
                      item.record.id if item.record else None, ov.outlines, ov.boxes,
                      regions=[region_caption(g.label, g.score, g.area_px, long=True) for g in r.regions],
                      name=item.name, dropped=ov.dropped, ignored=ov.ignored)
        yield ("item", entry, item.image, ov.heat_rgba)


class InspectTab(QWidget):
    title = "Inspect"

    def __init__(self, state: AppState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self.entries: list[Entry] = []
        self.skipped: list[tuple[str, str]] = []  # (name, reason) of files that could not be read
        self.cache: OrderedDict[int, tuple[np.ndarray, Optional[np.ndarray]]] = OrderedDict()
        self.current = -1
        self.follow = True
        open_files = QPushButton("Open images…")
        open_files.clicked.connect(self.open_files_dialog)
        open_folder = QPushButton("Open folder…")
        open_folder.clicked.connect(self.open_folder_dialog)
        for b in (open_files, open_folder):
            b.setMinimumHeight(36)
        self.record = QCheckBox("Record in history")
        self.record.setChecked(True)
        self.progress = ProgressPanel()
        self.note = ElidedLabel()  # e.g. "fitted 'standalone' on 10 reference(s)"; elides when narrow
        top = QHBoxLayout()
        top.addWidget(open_files)
        top.addWidget(open_folder)
        top.addWidget(self.record)
        top.addWidget(self.progress, 2)
        top.addWidget(self.note, 1)

        self.view = ImageView(empty_text="Open images or a folder to inspect them")
        self.controls = ViewControls(self.view, dropped=True)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.controls)
        ll.addWidget(self.view, 1)

        self.panel = ResultPanel(on_flag=self.set_flag)
        self.results = QListWidget()
        self.results.setObjectName("resultsList")
        # long rows (a skipped file and its reason) wrap inside the list instead of running off its edge
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results.setWordWrap(True)
        self.results.currentRowChanged.connect(self._row_changed)
        self.results.itemClicked.connect(lambda _i: setattr(self, "follow", False))
        self.counts = QLabel()
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.panel)
        sl.addWidget(QLabel("Results (N / P: next / previous)"))
        sl.addWidget(self.results, 1)
        sl.addWidget(self.counts)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("inspectSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setSizes([880, 380])
        self.detector_line = DetectorLine(state)  # which trained detector scores these images, if any
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.detector_line)
        lay.addWidget(self.splitter, 1)

        for keys, fn in ((("N", "Right", "PgDown"), self.next), (("P", "Left", "PgUp"), self.previous),
                         (("F",), lambda: self._toggle_flag("false_reject")),
                         (("M",), lambda: self._toggle_flag("missed_defect")),
                         (("0",), self.view.fit), (("1",), self.view.one_to_one),
                         (("+", "="), lambda: self.view.zoom_by(1.25)), (("-",), lambda: self.view.zoom_by(0.8)),
                         (("Ctrl+O",), self.open_files_dialog), (("Ctrl+Shift+O",), self.open_folder_dialog)):
            for k in keys:
                QShortcut(QKeySequence(k), self, fn)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        state.product_changed.connect(lambda _n: self.reset())
        state.workspace_changed.connect(self.reset)
        self.reset()

    # --- running -------------------------------------------------------------------------
    def reset(self) -> None:
        if self.progress.task is not None:
            self.progress.cancel()
        self.entries.clear()
        self.skipped.clear()
        self.cache.clear()
        self.results.clear()
        self.current = -1
        self.view.set_image(None)
        self.panel.banner.clear()
        self.panel.details.setText("")
        self.panel.set_flag(None)
        self.note.setText("")
        self._update_counts()
        name = self.state.product
        self.view.empty_text = (f"Open images or a folder to inspect them as “{name}”" if name
                                else "Select or create a product first")

    def _start_dir(self) -> str:
        root = self.state.workspace_root()
        demo = root / "demo-data" / self.state.product / "test" if root else None
        return str(demo if demo and demo.is_dir() else (root / "demo-data" if root and (root / "demo-data").is_dir()
                                                        else Path.home()))

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Images to inspect", self._start_dir(),
                                                "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff)")
        if files:
            self.inspect([Path(f) for f in files])

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to inspect", self._start_dir())
        if folder:
            self.inspect([Path(folder)])

    def inspect(self, paths: list[Path]) -> None:
        """Inspect files and/or folders (folders expand to their images, not recursively)."""
        if not self.state.product or self.state.workspace is None:
            show_error(self, "Select or create a product first (toolbar, top left).")
            return
        if self.progress.busy():
            return
        self.reset()
        self.follow = True
        self.panel.banner.show_message("Inspecting…", "Preparing the detector", busy=True)
        task = run_task(self, inspect_job, self.state.workspace, self.state.product, list(paths),
                        self.state.device, self.record.isChecked(), self.state.station(), self.state.operator(),
                        on_yield=self._on_item, on_finished=self._done,
                        on_cancelled=lambda: self.note.setText("Cancelled: results so far are kept."),
                        on_error=self._failed)
        self.progress.attach(task, "Preparing the detector…")

    def _failed(self, message: str, details: str) -> None:
        self.panel.banner.show_message("Could not inspect", message)
        show_error(self, message, details)

    def _on_item(self, item: tuple) -> None:
        if item[0] == "note":
            self.note.setText(item[1])
            return
        if item[0] == "skipped":
            self._add_skipped(item[1], item[2])
            return
        _, entry, image, heat = item
        self.entries.append(entry)
        idx = len(self.entries) - 1
        self._remember(idx, image, heat)
        li = QListWidgetItem(f"{entry.verdict}   {entry.score:5.2f}   {entry.name}")
        li.setForeground(QColor("#c62828") if entry.verdict == "NG" else QColor("#1b7f3b"))
        li.setToolTip(str(entry.path))
        li.setData(Qt.ItemDataRole.UserRole, idx)
        entry.row = self.results.count()
        self.results.addItem(li)
        self._update_counts()
        if self.follow or self.current < 0:
            self.results.blockSignals(True)
            self.results.setCurrentRow(entry.row)
            self.results.blockSignals(False)
            self.show_entry(idx)

    def _add_skipped(self, name: str, reason: str) -> None:
        """A file that could not be read: a greyed row in the list (not selectable), the batch goes on."""
        self.skipped.append((name, reason))
        li = QListWidgetItem(f"SKIPPED   {name} — {reason}")
        li.setForeground(QColor("#7a828a"))
        li.setToolTip(f"{name} was not inspected: {reason}")
        li.setFlags(Qt.ItemFlag.ItemIsEnabled)  # nothing to review: keyboard and selection pass it by
        self.results.addItem(li)
        self._update_counts()

    def _done(self) -> None:
        if not self.entries and self.skipped:
            self.panel.banner.show_message("Nothing inspected", f"none of the {len(self.skipped)} file(s) "
                                           "could be read: see the list for why")
        elif not self.entries and self.panel.banner.state == "busy":
            self.panel.banner.clear()
        self.state.notify_updated()  # a first inspection may have fitted the product

    def _remember(self, idx: int, image: np.ndarray, heat: Optional[np.ndarray]) -> None:
        self.cache[idx] = (image, heat)
        self.cache.move_to_end(idx)
        while len(self.cache) > KEEP_IMAGES:
            self.cache.popitem(last=False)

    def _update_counts(self) -> None:
        n = len(self.entries)
        ng = sum(e.verdict == "NG" for e in self.entries)
        recheck = sum(e.verdict == "RECHECK" for e in self.entries)
        self.counts.setText(f"{n} inspected · {ng} NG" + (f" ({ng / n:.0%})" if n else "")
                            + (f" · {recheck} RECHECK" if recheck else "")
                            + (f" · {len(self.skipped)} skipped (unreadable)" if self.skipped else ""))

    # --- review --------------------------------------------------------------------------
    def _row_changed(self, row: int) -> None:
        item = self.results.item(row) if row >= 0 else None
        idx = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if isinstance(idx, int) and 0 <= idx < len(self.entries):
            self.show_entry(idx)

    def select_entry(self, idx: int) -> None:
        """Select the idx-th inspected image (rows of skipped files are passed by)."""
        if 0 <= idx < len(self.entries):
            self.results.setCurrentRow(self.entries[idx].row)

    def show_entry(self, idx: int) -> None:
        e = self.entries[idx]
        self.current = idx
        regions = "<br>".join(e.regions[:6]) + (f"<br>… {len(e.regions) - 6} more" if len(e.regions) > 6 else "")
        self.panel.banner.show_verdict(e.verdict, e.score, e.threshold)
        filtered = f" · {len(e.dropped)} filtered box(es)" if e.dropped else ""
        filtered += f" · {len(e.ignored)} ignore region(s) not inspected" if e.ignored else ""
        head = f"<b>{e.name}</b> · {e.ms:.0f} ms{filtered}<br>"
        self.panel.details.setText(head + (f"{len(e.regions)} region(s):<br>{regions}" if e.regions
                                           else "No region above the pixel threshold."))
        self.panel.set_flag(e.flag if e.record_id is not None else None, e.verdict)
        overlay = OverlayData(0, 0, None, e.outlines, e.boxes, e.dropped, e.ignored)
        if idx in self.cache:
            image, heat = self.cache[idx]
            overlay.heat_rgba = heat
            self.view.set_image(image, overlay)
            return
        run_task(self, load_image, e.path, hooks=False,
                 on_result=lambda img, i=idx, ov=overlay: self.current == i and self.view.set_image(img, ov))

    def next(self) -> None:
        if self.entries:
            self.follow = False
            self.select_entry(min(len(self.entries) - 1, max(0, self.current + 1)))

    def previous(self) -> None:
        if self.entries:
            self.follow = False
            self.select_entry(max(0, self.current - 1))

    def _toggle_flag(self, flag: str) -> None:
        if 0 <= self.current < len(self.entries) and self.entries[self.current].record_id is not None:
            self.set_flag("" if self.entries[self.current].flag == flag else flag)

    def set_flag(self, flag: str) -> None:
        if not 0 <= self.current < len(self.entries):
            return
        e = self.entries[self.current]
        if e.record_id is None:
            return
        try:
            flag_inspection(self.state.workspace, e.record_id, flag)
        except InspectorError as exc:
            show_error(self, str(exc))
            return
        e.flag = flag
        self.panel.set_flag(flag, e.verdict)
        item = self.results.item(e.row)
        item.setText(f"{e.verdict}   {e.score:5.2f}   {e.name}" + (f"   [{FLAG_TEXT[flag]}]" if flag else ""))
