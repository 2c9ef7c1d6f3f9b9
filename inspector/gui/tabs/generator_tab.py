"""Generator tab: synthetic defects of the selected product, reviewed as they arrive.

Left: the recipe (method with its availability, references, defect word and kind, mask
source with a brush, count, sizes, seed, set name, filter). Right: the filter's score
histogram with its thresholds and the gallery, which fills as samples are made, each tile
with its mask outline, filter score and decision; a click accepts or rejects it. Preview
makes a few samples in memory; Generate writes a set (resuming one with the same name and
settings); Export writes an MVTec-AD folder. All work runs in workers with progress + Cancel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox,
                               QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QMessageBox, QPushButton, QSizePolicy,
                               QSlider, QSpinBox, QSplitter, QStackedLayout, QVBoxLayout, QWidget)

from ...core.errors import InspectorError
from ...services import references as ref_svc
from ...services import synthetic as synth
from ..qt_images import qimage_copy, qimage_view, thumbnail_array
from ..state import AppState
from ..widgets.empty_state import EmptyState
from ..widgets.error_dialog import show_error
from ..widgets.progress_panel import ProgressPanel
from ..workers import Task, run_task

TILE = 150
ANY_WORD = "(the product's words, in turn)"
ANY_KIND = "(from the word)"


def sample_tile(image: np.ndarray, mask: Optional[np.ndarray], size: int = TILE) -> QImage:
    """Thumbnail with the mask's outline in red (runs in a worker)."""
    import cv2

    thumb = np.ascontiguousarray(thumbnail_array(image, size))
    if mask is not None and mask.any():
        m = cv2.resize(mask.astype(np.uint8), (thumb.shape[1], thumb.shape[0]), interpolation=cv2.INTER_NEAREST)
        m = cv2.dilate(m, np.ones((2, 2), np.uint8)) if m.sum() < 12 else m
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(thumb, contours, -1, (255, 40, 40), 1, cv2.LINE_AA)
    return qimage_copy(thumb)


def run_job(ws, product: str, name: str, settings: synth.RunSettings, region: Optional[np.ndarray],  # noqa: ANN001
            progress=None, cancel=None) -> Iterator[tuple]:  # noqa: ANN001
    """Worker: ("old", info, tile) for samples already in the set, then ("new", info, tile) or
    ("failed", index, message) as the run goes."""
    try:
        existing = synth.get_set(ws, product, name).samples
    except InspectorError:
        existing = []
    for info in existing:
        if cancel is not None and cancel():
            return
        yield ("old", info, sample_tile(*synth.load_sample(info)))
    for item in synth.generate_set(ws, product, name, settings, region, progress, cancel):
        if isinstance(item, synth.SampleFailure):
            yield ("failed", item.index, item.message)
        else:
            yield ("new", item, sample_tile(*synth.load_sample(item)))


def preview_job(ws, product: str, settings: synth.RunSettings, region: Optional[np.ndarray], n: int,  # noqa: ANN001
                progress=None, cancel=None) -> Iterator[tuple]:  # noqa: ANN001
    for index, image, mask, recipe in synth.preview(ws, product, settings, n, region, progress, cancel):
        yield ("preview", index, recipe, sample_tile(image, mask))


class FilterHistogram(QWidget):
    """Histogram of the set's filter similarity scores with the keep threshold (drag to move)."""

    threshold_moved = Signal(float)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(260, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.scores: list[float] = []
        self.threshold = 0.2

    def sizeHint(self) -> QSize:
        return QSize(420, 130)

    def set_data(self, scores: list[float], threshold: float) -> None:
        self.scores, self.threshold = [float(s) for s in scores], float(threshold)
        self.update()

    def _plot(self) -> QRectF:
        fh = self.fontMetrics().height()
        return QRectF(10, fh + 8, self.width() - 20, self.height() - 2 * fh - 16)

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.mouseMoveEvent(e)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        plot = self._plot()
        v = float(np.clip((e.position().x() - plot.left()) / max(plot.width(), 1), 0, 1))
        self.threshold = round(v, 2)
        self.update()
        self.threshold_moved.emit(self.threshold)

    def paintEvent(self, _e: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        fm = p.fontMetrics()
        plot = self._plot()
        if not self.scores:
            p.setPen(pal.placeholderText().color())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Filter scores appear as samples are made")
            p.end()
            return
        counts, _ = np.histogram(self.scores, bins=25, range=(0, 1))
        top = max(int(counts.max()), 1)
        bw = plot.width() / 25
        for i, c in enumerate(counts):
            if c:
                h = c / top * plot.height()
                keep = (i + 0.5) / 25 >= self.threshold
                p.fillRect(QRectF(plot.left() + i * bw, plot.bottom() - h, bw - 1, h),
                           QColor("#4a78b5") if keep else QColor("#b0b6bd"))
        p.setPen(QPen(pal.windowText().color(), 1))
        p.drawLine(QPointF(plot.left(), plot.bottom()), QPointF(plot.right(), plot.bottom()))
        p.drawText(QRectF(plot.left(), plot.bottom() + 3, 60, fm.height()), Qt.AlignmentFlag.AlignLeft, "0")
        p.drawText(QRectF(plot.right() - 60, plot.bottom() + 3, 60, fm.height()), Qt.AlignmentFlag.AlignRight, "1")
        p.drawText(QRectF(plot.left() + 70, plot.bottom() + 3, plot.width() - 140, fm.height()),
                   Qt.AlignmentFlag.AlignCenter, "similarity to the product's references")
        kept = sum(s >= self.threshold for s in self.scores)
        p.drawText(QRectF(plot.left(), 2, plot.width(), fm.height()), Qt.AlignmentFlag.AlignLeft,
                   f"{len(self.scores)} samples: {kept} similar enough, {len(self.scores) - kept} too far")
        x = plot.left() + self.threshold * plot.width()
        p.setPen(QPen(QColor("#c62828"), 2))
        p.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
        p.setPen(QColor("#c62828"))
        label = f"keep ≥ {self.threshold:.2f}"
        w = fm.horizontalAdvance(label) + 6
        p.drawText(QRectF(min(max(plot.left(), x + 4), plot.right() - w), plot.top(), w, fm.height()),
                   Qt.AlignmentFlag.AlignLeft, label)
        p.end()


class RegionDialog(QDialog):
    """Paint where the defect must go on one reference (left button paints, right erases)."""

    def __init__(self, image: np.ndarray, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Draw the defect region")
        self.image = image
        h, w = image.shape[:2]
        self.scale = min(1.0, 640 / max(h, w))
        self.shown = np.ascontiguousarray(thumbnail_array(image, 640))
        self.mask = np.zeros(self.shown.shape[:2], np.uint8)
        self.canvas = QLabel()
        self.canvas.setMouseTracking(False)
        self.canvas.mousePressEvent = self._paint  # type: ignore[method-assign]
        self.canvas.mouseMoveEvent = self._paint  # type: ignore[method-assign]
        self.brush = QSlider(Qt.Orientation.Horizontal)
        self.brush.setRange(2, 60)
        self.brush.setValue(14)
        clear = QPushButton("Clear")
        clear.clicked.connect(self._clear)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(QLabel("Brush"))
        row.addWidget(self.brush, 1)
        row.addWidget(clear)
        lay = QVBoxLayout(self)
        lay.addWidget(self.canvas)
        lay.addLayout(row)
        lay.addWidget(buttons)
        self._redraw()

    def _paint(self, e: QMouseEvent) -> None:
        import cv2

        erase = bool(e.buttons() & Qt.MouseButton.RightButton)
        x, y = int(e.position().x()), int(e.position().y())
        cv2.circle(self.mask, (x, y), self.brush.value() // 2, 0 if erase else 255, -1)
        self._redraw()

    def _clear(self) -> None:
        self.mask[:] = 0
        self._redraw()

    def _redraw(self) -> None:
        tinted = self.shown.copy()
        on = self.mask > 0
        tinted[on] = (0.5 * tinted[on] + [127, 20, 20]).astype(np.uint8)
        self._keep = tinted
        self.canvas.setPixmap(QPixmap.fromImage(qimage_view(tinted)))

    def region(self) -> Optional[np.ndarray]:
        """bool mask at the reference's full size, or None when nothing was drawn."""
        import cv2

        if not self.mask.any():
            return None
        h, w = self.image.shape[:2]
        return cv2.resize(self.mask, (w, h), interpolation=cv2.INTER_NEAREST) > 0


class GeneratorTab(QWidget):
    title = "Generator"

    def __init__(self, state: AppState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self.task: Optional[Task] = None
        self.region: Optional[np.ndarray] = None
        self.region_ref: Optional[int] = None
        self.samples: dict[int, synth.SampleInfo] = {}  # sample id -> info
        self.failures: list[tuple[int, str]] = []

        # --- recipe ----------------------------------------------------------------------
        self.method = QComboBox()
        self.method.setObjectName("methodCombo")
        self.method_note = QLabel()
        self.method_note.setWordWrap(True)
        self.method.currentIndexChanged.connect(self._method_changed)
        self.refs = QListWidget()
        self.refs.setObjectName("generatorRefs")
        self.refs.setMaximumHeight(110)
        self.word = QComboBox()
        self.word.setEditable(True)
        self.kind = QComboBox()
        self.mask_source = QComboBox()
        self.mask_source.addItems(["Random on the foreground", "Drawn on a reference"])
        self.mask_source.currentIndexChanged.connect(self._mask_source_changed)
        self.draw_button = QPushButton("Draw region…")
        self.draw_button.clicked.connect(self.draw_region)
        self.count = QSpinBox()
        self.count.setRange(1, synth.MAX_COUNT)
        self.count.setValue(20)
        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.1, 5.0)
        self.scale.setSingleStep(0.1)
        self.scale.setValue(1.0)
        self.per_image = QSpinBox()
        self.per_image.setRange(1, 8)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        self.set_name = QLineEdit()
        self.set_name.setPlaceholderText("automatic (method-defect-seed)")
        self.use_filter = QCheckBox("Retrieval filter (drop samples unlike the product or unchanged)")
        self.use_filter.setChecked(True)
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("", self.method_note)
        form.addRow("References", self.refs)
        form.addRow("Defect word", self.word)
        form.addRow("Kind", self.kind)
        mask_row = QHBoxLayout()
        mask_row.addWidget(self.mask_source, 1)
        mask_row.addWidget(self.draw_button)
        form.addRow("Mask", mask_row)
        form.addRow("Samples", self.count)
        form.addRow("Size factor", self.scale)
        form.addRow("Defects per sample", self.per_image)
        form.addRow("Seed", self.seed)
        form.addRow("Set name", self.set_name)
        form.addRow(self.use_filter)
        recipe = QGroupBox("Recipe")
        recipe.setLayout(form)

        self.preview_button = QPushButton("Preview 6")
        self.preview_button.setObjectName("previewButton")
        self.preview_button.clicked.connect(self.preview)
        self.generate_button = QPushButton("Generate set")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.clicked.connect(self.generate)
        for b in (self.preview_button, self.generate_button):
            b.setMinimumHeight(40)
        actions = QHBoxLayout()
        actions.addWidget(self.preview_button)
        actions.addWidget(self.generate_button, 1)
        self.progress = ProgressPanel()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(8, 8, 4, 8)
        ll.addWidget(recipe)
        ll.addLayout(actions)
        ll.addWidget(self.progress)
        ll.addStretch(1)

        # --- review ----------------------------------------------------------------------
        self.sets = QComboBox()
        self.sets.setObjectName("setCombo")
        self.sets.setMinimumWidth(200)
        self.sets.activated.connect(lambda _i: self.open_set(self.sets.currentData() or ""))
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self.export_dialog)
        self.delete_button = QPushButton("Delete set…")
        self.delete_button.clicked.connect(self.delete_dialog)
        set_row = QHBoxLayout()
        set_row.addWidget(QLabel("Set"))
        set_row.addWidget(self.sets, 1)
        set_row.addWidget(self.export_button)
        set_row.addWidget(self.delete_button)
        self.hist = FilterHistogram()
        self.hist.threshold_moved.connect(self._threshold_dragged)
        self.min_similarity = QDoubleSpinBox()
        self.min_similarity.setRange(0, 1)
        self.min_similarity.setSingleStep(0.05)
        self.min_similarity.setValue(0.2)
        self.min_change = QDoubleSpinBox()
        self.min_change.setRange(0, 255)
        self.min_change.setValue(8.0)
        self.min_change.setSuffix(" grey levels")
        apply_button = QPushButton("Apply thresholds")
        apply_button.clicked.connect(self.apply_thresholds)
        thr = QHBoxLayout()
        thr.addWidget(QLabel("Keep similarity ≥"))
        thr.addWidget(self.min_similarity)
        thr.addWidget(QLabel("and change in mask ≥"))
        thr.addWidget(self.min_change)
        thr.addWidget(apply_button)
        thr.addStretch(1)
        self.gallery = QListWidget()
        self.gallery.setObjectName("generatorGallery")
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(TILE, TILE))
        self.gallery.setGridSize(QSize(TILE + 16, TILE + 44))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setMovement(QListWidget.Movement.Static)
        self.gallery.setWordWrap(True)
        self.gallery.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.gallery.itemClicked.connect(self.toggle)
        self.counts = QLabel()
        self.counts.setObjectName("generatorCounts")
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 8, 8, 8)
        rl.addLayout(set_row)
        rl.addWidget(self.hist)
        rl.addLayout(thr)
        rl.addWidget(QLabel("Click a sample to accept or reject it (red outline: its mask)"))
        rl.addWidget(self.gallery, 1)
        rl.addWidget(self.counts)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("generatorSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([380, 900])
        self.empty = EmptyState("Add good reference images first", "Go to Products", self._go_products,
                                detail="The generator makes defects on this product's good references.")
        self.empty.setObjectName("generatorEmpty")
        self.stack = QStackedLayout(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.splitter)

        state.workspace_changed.connect(self.reload)
        state.product_changed.connect(lambda _n: self.reload())
        state.product_updated.connect(lambda _n: self.reload())
        self.reload()

    # --- state ---------------------------------------------------------------------------
    def _go_products(self) -> None:
        window = self.window()
        if hasattr(window, "show_tab"):
            window.show_tab("products")

    def reload(self) -> None:
        from ...generate.registry import methods

        info = self.state.product_info()
        ws = self.state.workspace
        if info is None or ws is None or info.n_references == 0:
            self.empty.set_message("Add good reference images first" if info else "Select or create a product",
                                   "The generator makes defects on this product's good references.")
            self.stack.setCurrentWidget(self.empty)
            return
        self.stack.setCurrentWidget(self.splitter)
        current = self.method.currentData()
        self.method.blockSignals(True)
        self.method.clear()
        for m in methods():
            status = m.availability()
            self.method.addItem(m.title if status.ok else f"{m.title} — unavailable", m.id)
            item = self.method.model().item(self.method.count() - 1)
            item.setEnabled(status.ok)
            item.setToolTip(m.description if status.ok else status.message())
        self.method.setCurrentIndex(max(0, self.method.findData(current)))
        self.method.blockSignals(False)
        self._method_changed()
        words = [w for w in info.defect_words if w.strip()]
        self.word.clear()
        self.word.addItem(ANY_WORD, "")
        for w in words:
            self.word.addItem(w, w)
        self.refs.clear()
        for r in ref_svc.list_references(ws, info.name):
            item = QListWidgetItem(f"#{r.id} {r.original_name} ({r.width}×{r.height})")
            item.setData(Qt.ItemDataRole.UserRole, r.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.refs.addItem(item)
        self.region, self.region_ref = None, None
        self.mask_source.setCurrentIndex(0)
        self._fill_sets()
        self.gallery.clear()
        self.samples.clear()
        if self.sets.count():
            self.open_set(self.sets.itemData(0))
        self._update_counts()

    def _method_changed(self) -> None:
        from ...generate.registry import methods

        mid = self.method.currentData()
        spec = next((m for m in methods() if m.id == mid), None)
        self.method_note.setText(spec.description if spec else "")
        self.kind.clear()
        self.kind.addItem(ANY_KIND, "")
        for k in (spec.kinds if spec else ()):
            self.kind.addItem(k.replace("_", " "), k)

    def _mask_source_changed(self) -> None:
        if self.mask_source.currentIndex() == 1 and self.region is None:
            self.draw_region()
        if self.mask_source.currentIndex() == 0:
            self.region, self.region_ref = None, None

    def _fill_sets(self, select: str = "") -> None:
        self.sets.clear()
        if self.state.workspace is None or not self.state.product:
            return
        for s in synth.list_sets(self.state.workspace, self.state.product):
            self.sets.addItem(f"{s.name} — {s.n_samples} samples, {s.n_accepted} accepted", s.name)
        if select:
            self.sets.setCurrentIndex(max(0, self.sets.findData(select)))

    def settings(self) -> synth.RunSettings:
        ids = [self.refs.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.refs.count())
               if self.refs.item(i).checkState() == Qt.CheckState.Checked]
        if self.region is not None and self.region_ref is not None:
            ids = [self.region_ref]
        elif len(ids) == self.refs.count():
            ids = None  # all: a set made with every reference keeps resuming as references are added
        text = self.word.currentText().strip()
        return synth.RunSettings(method=self.method.currentData() or "rules", count=self.count.value(),
                                 defect="" if text == ANY_WORD else text,
                                 kind=self.kind.currentData() or "", scale=self.scale.value(),
                                 per_image=self.per_image.value(), seed=self.seed.value(),
                                 references=ids, filter=self.use_filter.isChecked(),
                                 params={"min_similarity": self.min_similarity.value(),
                                         "min_change": self.min_change.value(),
                                         **({} if self.method.currentData() in (None, "rules")
                                            else {"device": self.state.device})})

    def current_set_name(self) -> str:
        s = self.settings()
        return self.set_name.text().strip() or synth.default_set_name(s.method, s.defect, s.kind, s.seed)

    # --- actions -------------------------------------------------------------------------
    def _busy(self) -> bool:
        return self.task is not None and self.task.running

    def draw_region(self) -> None:
        ws, product = self.state.workspace, self.state.product
        item = self.refs.currentItem() or self.refs.item(0)
        if ws is None or item is None:
            return
        ref_id = item.data(Qt.ItemDataRole.UserRole)
        ref = next(r for r in ref_svc.list_references(ws, product) if r.id == ref_id)
        from ...core.image_io import load_image

        dlg = RegionDialog(load_image(ws.abs_path(ref.path)), self)
        if dlg.exec() == QDialog.DialogCode.Accepted and dlg.region() is not None:
            self.set_region(ref_id, dlg.region())
        elif self.region is None:
            self.mask_source.setCurrentIndex(0)

    def set_region(self, ref_id: int, region: np.ndarray) -> None:
        """A drawn region on reference `ref_id` (the run then uses that reference only)."""
        self.region, self.region_ref = region, ref_id
        self.mask_source.blockSignals(True)
        self.mask_source.setCurrentIndex(1)
        self.mask_source.blockSignals(False)

    def preview(self, n: int = 6) -> None:
        if self._busy() or self.state.workspace is None:
            return
        self.gallery.clear()
        self.samples.clear()
        self.task = run_task(self, preview_job, self.state.workspace, self.state.product, self.settings(),
                             self.region, n, on_yield=self._arrived, on_error=self._error,
                             on_finished=self._done)
        self.progress.attach(self.task, "Making a preview…")
        self._set_running(True)

    def generate(self) -> None:
        if self._busy() or self.state.workspace is None:
            return
        try:
            name = synth.check_set_name(self.current_set_name())
        except InspectorError as exc:
            show_error(self, str(exc))
            return
        self.gallery.clear()
        self.samples.clear()
        self.failures.clear()
        self.active_set = name
        self.task = run_task(self, run_job, self.state.workspace, self.state.product, name, self.settings(),
                             self.region, on_yield=self._arrived, on_error=self._error,
                             on_finished=lambda: self._done(name))
        self.progress.attach(self.task, f"Generating set '{name}'…")
        self._set_running(True)

    def cancel(self) -> None:
        self.progress.cancel()

    def _set_running(self, running: bool) -> None:
        for w in (self.preview_button, self.generate_button, self.export_button, self.delete_button, self.sets):
            w.setEnabled(not running)

    def _error(self, message: str, details: str) -> None:
        show_error(self, message, details)

    def _done(self, name: str = "") -> None:
        self._set_running(False)
        if name:
            self._fill_sets(select=name)
        self._update_counts()

    def _arrived(self, item: tuple) -> None:
        if item[0] == "failed":
            self.failures.append((item[1], item[2]))
            self._update_counts()
            return
        if item[0] == "preview":
            _, index, recipe, tile = item
            kinds = ", ".join(d.get("kind", "").replace("_", " ") for d in recipe.get("defects", []))
            w = QListWidgetItem(QIcon(QPixmap.fromImage(tile)), f"preview {index + 1}\n{kinds}")
            w.setToolTip("A preview is not stored: press Generate set to make and keep samples")
            w.setData(Qt.ItemDataRole.UserRole, None)
            self.gallery.addItem(w)
            return
        _, info, tile = item
        self.samples[info.id] = info
        w = QListWidgetItem(QIcon(QPixmap.fromImage(tile)), "")
        w.setData(Qt.ItemDataRole.UserRole, info.id)
        self.gallery.addItem(w)
        self._decorate(w, info)
        self._update_counts()

    def _decorate(self, w: QListWidgetItem, info: synth.SampleInfo) -> None:
        score = "" if info.filter_score is None else f" · {info.filter_score:.2f}"
        w.setText(f"#{info.index} {info.defect}{score}\n{'✓ accepted' if info.accepted else '✗ rejected'}")
        w.setForeground(QColor("#2e7d32") if info.accepted else QColor("#c62828"))
        why = info.filter.get("reason", "")
        w.setToolTip(f"{info.defect}: similarity {info.filter.get('similarity', '–')}, change in mask "
                     f"{info.filter.get('change', '–')} grey levels\n{why or 'kept by the filter'}"
                     f"\nclick to {'reject' if info.accepted else 'accept'}")

    def toggle(self, w: QListWidgetItem) -> None:
        sid = w.data(Qt.ItemDataRole.UserRole)
        if sid is None or self.state.workspace is None or sid not in self.samples:
            return
        info = synth.set_accepted(self.state.workspace, sid, not self.samples[sid].accepted)
        self.samples[sid] = info
        self._decorate(w, info)
        self._update_counts()

    def open_set(self, name: str) -> None:
        """Show an existing set (thumbnails load in a worker)."""
        if not name or self._busy() or self.state.workspace is None:
            return
        self.gallery.clear()
        self.samples.clear()
        self.active_set = name
        self.task = run_task(self, _load_set_job, self.state.workspace, self.state.product, name,
                             on_yield=self._arrived, on_error=self._error, on_finished=self._done)
        self.progress.attach(self.task, f"Loading set '{name}'…")
        self._set_running(True)

    def _update_counts(self) -> None:
        infos = list(self.samples.values())
        acc = sum(i.accepted for i in infos)
        fail = f", {len(self.failures)} failed (see the log)" if self.failures else ""
        self.counts.setText(f"{len(infos)} samples, {acc} accepted, {len(infos) - acc} rejected{fail}"
                            if infos or self.failures else "No samples yet: press Preview or Generate set")
        scores = [i.filter_score for i in infos if i.filter_score is not None]
        self.hist.set_data(scores, self.min_similarity.value())

    def _threshold_dragged(self, value: float) -> None:
        self.min_similarity.setValue(value)

    def apply_thresholds(self) -> None:
        """Re-decide the samples not reviewed by hand with the thresholds shown."""
        name = getattr(self, "active_set", "")
        if not name or self.state.workspace is None or self._busy():
            return
        synth.refilter_set(self.state.workspace, self.state.product, name,
                           {"min_similarity": self.min_similarity.value(), "min_change": self.min_change.value()})
        fresh = {s.id: s for s in synth.get_set(self.state.workspace, self.state.product, name).samples}
        for i in range(self.gallery.count()):
            w = self.gallery.item(i)
            sid = w.data(Qt.ItemDataRole.UserRole)
            if sid in fresh:
                self.samples[sid] = fresh[sid]
                self._decorate(w, fresh[sid])
        self._fill_sets(select=name)
        self._update_counts()

    def export_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the set into folder")
        if folder:
            self.export_to(Path(folder))

    def export_to(self, dest: Path) -> None:
        name = getattr(self, "active_set", "")
        if not name or self.state.workspace is None or self._busy():
            return
        self.task = run_task(self, synth.export_set, self.state.workspace, self.state.product, name, dest,
                             on_result=lambda out: self.counts.setText(f"Exported to {out}"),
                             on_error=self._error, on_finished=lambda: self._set_running(False))
        self.progress.attach(self.task, f"Exporting '{name}'…")
        self._set_running(True)

    def delete_dialog(self) -> None:
        name = getattr(self, "active_set", "")
        if not name:
            return
        answer = QMessageBox.question(self, "Delete set", f"Delete set '{name}' and its files?")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_set(name)

    def delete_set(self, name: str) -> None:
        if self.state.workspace is None or self._busy():
            return
        synth.delete_set(self.state.workspace, self.state.product, name)
        self.active_set = ""
        self.gallery.clear()
        self.samples.clear()
        self._fill_sets()
        self._update_counts()

    def shutdown(self) -> None:
        if self._busy():
            self.task.cancel()


def _load_set_job(ws, product: str, name: str, progress=None, cancel=None) -> Iterator[tuple]:  # noqa: ANN001
    samples = synth.get_set(ws, product, name).samples
    for i, info in enumerate(samples):
        if cancel is not None and cancel():
            return
        if progress is not None:
            progress(i, len(samples), f"sample {i + 1} of {len(samples)}")
        yield ("old", info, sample_tile(*synth.load_sample(info)))
