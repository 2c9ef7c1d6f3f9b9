"""Training tab: train a local detector for the selected product, watch it learn, compare, activate.

Training, activation and roll back run in `gui/workers.py` workers (progress + cancel). The
trainer's per-step reports travel through a queue that the tab drains on each progress signal,
so the loss curve and validation metrics (pyqtgraph) grow while the run goes on.
"""

from __future__ import annotations

import queue
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QPushButton, QSpinBox, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ...core.errors import InspectorError
from ..state import AppState
from ..widgets.detector_line import DetectorLine
from ..widgets.error_dialog import show_error
from ..widgets.progress_panel import ProgressPanel
from ..widgets.scrolling import scrolling
from ..workers import Task, run_task

STAGE_CHOICES = [("Rule-based only", ("rules",)),
                 ("Rule-based, then high-quality (two-stage)", ("rules", "diffusion")),
                 ("High-quality, then rule-based (reverse)", ("diffusion", "rules")),
                 ("High-quality only", ("diffusion",))]
METRICS = [("i_auroc", "I-AUROC"), ("p_auroc", "P-AUROC"), ("pro", "PRO")]
VLAD_TITLE = "VLAD adapters (CLIP frozen)"
BASE_TITLES = {"standalone": "standalone", "vlad": "VLAD"}  # the untrained engine a detector starts from
EXAMPLE_W, EXAMPLE_H = 128, 96  # three example columns fit a third of a 1366 px window
CURVE_COLOURS = {"i_auroc": "#1b5e9e", "p_auroc": "#1b7f3b", "pro": "#c77700"}


def train_job(ws: Any, product: str, config: Any, resume: bool, reports: "queue.Queue", base: str = "standalone",
              use_sets: bool = True, progress=None, cancel=None):  # noqa: ANN001, ANN201 - worker function
    """Worker: train; every TrainProgress goes to `reports`, then a progress signal wakes the tab."""
    from ...services import training

    def on_progress(p: Any) -> None:
        reports.put(p)
        progress(p.samples, p.total_samples,
                 f"epoch {p.epoch}/{p.epochs} ({p.stage}) · loss {p.loss:.3f} · {p.samples_per_s:.1f} samples/s")

    return training.train_product(ws, product, config, base=base, resume=resume, progress=on_progress, cancel=cancel,
                                  status=lambda m: progress(0, 0, m), use_sets=use_sets)


def _fmt(v: Any) -> str:
    return "n/a" if v is None or v != v else f"{v:.3f}"


def _kept_text(det: Any) -> str:
    """Which weights a detector kept, in words (older detectors kept their best epoch)."""
    if det is None:
        return ""
    kept, epochs = det.training_set.get("kept"), len(det.metrics.get("history", []))
    if kept == "the untrained head":
        return ("Kept the untrained head: the trained weights validated worse than it (it ranks like the "
                "engine, so this detector scores as the engine does).")
    if kept:
        return (f"Kept {kept} of {epochs} (weight averaging), which validated better than the untrained "
                "head (it ranks like the engine).")
    old = det.training_set.get("selected_epoch")
    return "" if old is None else f"Kept the weights of epoch {old} of {epochs}, the best on validation."


def _heat(values: np.ndarray, lo: float, hi: float) -> QImage:
    import cv2

    u8 = np.clip((values - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
    rgb = np.ascontiguousarray(cv2.applyColorMap(u8, cv2.COLORMAP_INFERNO)[..., ::-1])
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888).copy()


def _rgb(image: np.ndarray) -> QImage:
    arr = np.ascontiguousarray(image)
    return QImage(arr.data, arr.shape[1], arr.shape[0], arr.strides[0], QImage.Format.Format_RGB888).copy()


class TrainingTab(QWidget):
    title = "Training"

    def __init__(self, state: AppState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        import pyqtgraph as pg

        self.state = state
        self.task: Optional[Task] = None
        self.reports: "queue.Queue" = queue.Queue()
        self.extra_config: dict[str, Any] = {}  # tests and power users: other TrainConfig fields
        self.loss_x: list[int] = []
        self.loss_y: list[float] = []
        self.val: dict[str, list[float]] = {k: [] for k, _ in METRICS}
        self.val_x: list[int] = []

        # --- what to train ------------------------------------------------------------------
        self.base = QComboBox()
        self.base.addItem("Standalone + trained head (no weights)", "standalone")
        self.base.addItem(VLAD_TITLE, "vlad")  # enabled in refresh() when the CLIP weights are here
        self.base.currentIndexChanged.connect(lambda _i: self.show_selected())
        self.use_rules = QCheckBox("Rule-based defects, made on the fly")
        self.use_rules.setChecked(True)
        self.use_rules.setEnabled(False)
        self.use_sets = QCheckBox("Synthetic sets from the Generator")
        self.use_sets.setEnabled(False)  # enabled in refresh() when the product has accepted samples
        self.real_label = QLabel()
        self.real_label.setWordWrap(True)  # never wider than the setup column
        self.stages = QComboBox()
        for text, value in STAGE_CHOICES:
            self.stages.addItem(text, value)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.epochs.setValue(6)
        self.samples = QSpinBox()
        self.samples.setRange(4, 100000)
        self.samples.setValue(160)
        self.samples.setSuffix(" samples / epoch")
        self.device = QComboBox()
        for d in ("auto", "cpu", "cuda"):
            self.device.addItem(d, d)
        form = QFormLayout()
        form.addRow("Base", self.base)
        data = QVBoxLayout()
        data.addWidget(self.use_rules)
        data.addWidget(self.use_sets)
        data.addWidget(self.real_label)
        form.addRow("Data", data)
        form.addRow("Stages", self.stages)
        form.addRow("Epochs", self.epochs)
        form.addRow("Size", self.samples)
        form.addRow("Device", self.device)
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("primaryButton")
        self.resume_button = QPushButton("Resume")
        self.train_button.clicked.connect(lambda: self.start(resume=False))
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.resume_button)
        buttons.addStretch(1)
        form.addRow(buttons)
        self.progress = ProgressPanel()
        setup = QGroupBox("Train a local detector")
        setup.setLayout(form)

        # --- curves -------------------------------------------------------------------------
        self.loss_plot = pg.PlotWidget(title="Training loss")
        self.loss_plot.setBackground("w")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#1b5e9e", width=2))
        self.val_plot = pg.PlotWidget(title="Validation metrics")
        self.val_plot.setBackground("w")
        self.val_plot.setLabel("bottom", "epoch")
        self.val_plot.setYRange(0, 1.25, padding=0)
        self.val_plot.getAxis("left").setTicks([[(v / 5, f"{v / 5:.1f}") for v in range(6)]])
        # one row in the band above 1.0, where no metric can be: it never hides a curve
        self.val_plot.addLegend(offset=(-5, 1), colCount=len(METRICS))
        self.val_plot.setToolTip("Held-back references, good and with a defect family no stage trains on")
        self.val_curves = {k: self.val_plot.plot([], [], pen=pg.mkPen(CURVE_COLOURS[k], width=2), symbol="o",
                                                 symbolSize=6, symbolBrush=CURVE_COLOURS[k], name=label)
                           for k, label in METRICS}
        # --- detectors and comparison -------------------------------------------------------
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Version", "Active", "I-AUROC", "P-AUROC", "PRO"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self.show_selected)
        self.activate_button = QPushButton("Activate")
        self.rollback_button = QPushButton("Roll back")
        self.activate_button.clicked.connect(self.activate_selected)
        self.rollback_button.clicked.connect(self.roll_back)
        self.active_label = DetectorLine(state)
        det_buttons = QHBoxLayout()
        det_buttons.addWidget(self.activate_button)
        det_buttons.addWidget(self.rollback_button)
        det_buttons.addStretch(1)
        det_box = QGroupBox("Detectors of this product")
        det_lay = QVBoxLayout(det_box)
        det_lay.addWidget(self.table)
        det_lay.addLayout(det_buttons)
        det_lay.addWidget(self.active_label)

        self.compare = QTableWidget(len(METRICS), 2)
        self.compare.setHorizontalHeaderLabels(["Untrained standalone", "Trained local"])
        self.compare.setVerticalHeaderLabels([label for _, label in METRICS])
        self.compare.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.compare.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.compare.setFixedHeight(self.compare.horizontalHeader().sizeHint().height()
                                    + len(METRICS) * self.compare.verticalHeader().defaultSectionSize() + 4)
        self.compare.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.examples = QGridLayout()
        for col, text in enumerate(("Validation image", "Standalone map", "Local map")):
            head = QLabel(text)
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.examples.addWidget(head, 0, col)
        self.example_labels: list[list[QLabel]] = []
        for row in range(3):
            cells = []
            for col in range(3):
                cell = QLabel()
                cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
                cell.setMinimumSize(96, 72)
                self.examples.addWidget(cell, row + 1, col)
                cells.append(cell)
            self.example_labels.append(cells)
        cmp_box = QGroupBox("Selected detector against the untrained engine (same validation images)")
        cmp_lay = QVBoxLayout(cmp_box)
        cmp_lay.addWidget(self.compare)
        self.kept_label = QLabel()
        self.kept_label.setWordWrap(True)
        cmp_lay.addWidget(self.kept_label)
        cmp_lay.addLayout(self.examples)
        cmp_lay.addStretch(1)

        # three columns that fit a 1366x768 laptop: what to train and the detectors (Activate / Roll
        # back in view), the curves as they grow, the comparison with the untrained engine
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        left_lay.addWidget(setup)
        left_lay.addWidget(det_box, 1)
        curves = QWidget()
        curves_lay = QVBoxLayout(curves)
        curves_lay.setContentsMargins(0, 0, 0, 0)
        curves_lay.addWidget(self.loss_plot)
        curves_lay.addWidget(self.val_plot)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scrolling(left))  # the setup column scrolls on a smaller screen
        split.addWidget(curves)
        split.addWidget(scrolling(cmp_box))
        for i, stretch in enumerate((2, 3, 2)):
            split.setStretchFactor(i, stretch)
        split.setSizes([430, 450, 400])
        lay = QVBoxLayout(self)
        lay.addWidget(split, 1)
        lay.addWidget(self.progress)

        state.product_changed.connect(lambda _name: self.refresh())
        state.workspace_changed.connect(self.refresh)
        self.refresh()

    # --- state -------------------------------------------------------------------------------
    def busy(self) -> bool:
        return self.task is not None and self.task.running

    def detectors(self) -> list:
        from ...services import training

        if self.state.workspace is None or not self.state.product:
            return []
        return training.list_detectors(self.state.workspace, self.state.product)

    def refresh(self) -> None:
        from ...services import training

        ws, product = self.state.workspace, self.state.product
        ready = ws is not None and bool(product)
        dets = self.detectors()
        self.table.setRowCount(len(dets))
        for r, d in enumerate(dets):
            m = d.metrics.get("validation", {}).get("local", {})
            for c, text in enumerate([f"v{d.version}", "active" if d.active else "", _fmt(m.get("i_auroc")),
                                      _fmt(m.get("p_auroc")), _fmt(m.get("pro"))]):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, d.version)
                self.table.setItem(r, c, item)
        if dets and not self.table.selectedItems():
            self.table.selectRow(len(dets) - 1)
        active = next((d for d in dets if d.active), None)
        self._vlad_availability()
        self.active_label.refresh()
        self._sets_availability(training.high_quality_count(ws, product) if ready else 0)
        n_real = len(training.missed_defect_images(ws, self.state.product_info().id)) if ready else 0
        self.real_label.setText(f"Real defects: {n_real} inspection(s) flagged “missed defect” (validation)")
        idle = not self.busy()
        self.train_button.setEnabled(ready and idle)
        self.resume_button.setEnabled(ready and idle and training.has_checkpoint(ws, product))
        self.activate_button.setEnabled(ready and idle and bool(dets))
        self.rollback_button.setEnabled(ready and idle and active is not None
                                        and any(d.version < active.version for d in dets))

    def _sets_availability(self, n: int) -> None:
        """The high-quality stage trains on the product's accepted CUT / inpainting samples when it
        has some (checked when they first appear); otherwise a rule family stands in."""
        if n and not self.use_sets.isEnabled():
            self.use_sets.setChecked(True)
        self.use_sets.setEnabled(n > 0)
        if not n:
            self.use_sets.setChecked(False)
        # short: a checkbox does not wrap, and the setup column is a third of a 1366 px screen
        self.use_sets.setText(f"Synthetic sets ({n} accepted samples)" if n else "Synthetic sets from the Generator")
        self.use_sets.setToolTip(
            f"{n} accepted samples of the product's CUT / inpainting sets, used by the high-quality stage "
            "(Stages: two-stage, reverse or high-quality only); unchecked, a rule family (colour spots, "
            "cut-paste) stands in." if n else
            "No accepted CUT / inpainting sample for this product yet: make a set in the Generator tab. "
            "Until then the high-quality stage uses a rule family (colour spots, cut-paste) as its stand-in.")

    def _vlad_availability(self) -> None:
        """VLAD adapters can be chosen only with the product's CLIP weights here (the reason otherwise)."""
        from ...services import training

        item = self.base.model().item(1)
        info = self.state.product_info() if self.state.workspace is not None else None
        try:
            training.check_vlad_weights(dict(info.engine_settings) if info else {})
            reason = "" if info else "choose a product first"
        except InspectorError as exc:
            reason = str(exc)
        item.setEnabled(not reason)
        item.setText(VLAD_TITLE if not reason else f"{VLAD_TITLE} — needs its CLIP weights")
        item.setToolTip(reason or "Trains VLAD's linear adapters on the product's defects; CLIP stays frozen.")
        if reason and self.base.currentData() == "vlad":
            self.base.setCurrentIndex(0)

    def config(self) -> Any:
        from ...engines.registry import resolve_device
        from ...train.loop import TrainConfig
        from ...train.vlad_adapters import VladTrainConfig

        kind = VladTrainConfig if self.base.currentData() == "vlad" else TrainConfig
        return kind(**{"epochs": self.epochs.value(), "samples_per_epoch": self.samples.value(),
                       "stages": tuple(self.stages.currentData()),
                       "device": resolve_device(self.device.currentData()), **self.extra_config})

    # --- training ----------------------------------------------------------------------------
    def start(self, resume: bool) -> None:
        if self.busy() or self.state.workspace is None or not self.state.product:
            return
        try:
            cfg = self.config()
            cfg.check()
        except Exception as exc:  # noqa: BLE001 - shown as a message
            show_error(self, str(exc))
            return
        if not resume:
            self.clear_curves()
        self.reports = queue.Queue()
        self.task = run_task(self, train_job, self.state.workspace, self.state.product, cfg, resume, self.reports,
                             self.base.currentData(), self.use_sets.isChecked(),
                             on_result=self._trained, on_error=self._failed, on_finished=self._finished,
                             on_cancelled=self._drain)
        self.task.progress.connect(lambda *_: self._drain())
        self.progress.attach(self.task, "Preparing the training data…")
        self.refresh()

    def clear_curves(self) -> None:
        self.loss_x, self.loss_y, self.val_x = [], [], []
        self.val = {k: [] for k, _ in METRICS}
        self._redraw()

    def _drain(self) -> None:
        changed = False
        while True:
            try:
                p = self.reports.get_nowait()
            except queue.Empty:
                break
            changed = True
            if p.validation is None:
                if self.loss_x and p.step <= self.loss_x[-1]:  # a resumed run repeats nothing
                    continue
                self.loss_x.append(p.step)
                self.loss_y.append(p.loss)
            else:
                self.val_x.append(p.epoch)
                for k in self.val:
                    self.val[k].append(float(p.validation.get(k, float("nan"))))
        if changed:
            self._redraw()

    def _redraw(self) -> None:
        self.loss_curve.setData(self.loss_x, self.loss_y)
        for k, curve in self.val_curves.items():
            curve.setData(self.val_x, self.val[k])

    def _trained(self, det: Any) -> None:
        self._drain()
        self.refresh()
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == det.version:
                self.table.selectRow(r)
        self.show_selected()

    def _failed(self, message: str, details: str) -> None:
        show_error(self, message, details)

    def _finished(self) -> None:
        self.task = None
        self.refresh()

    # --- comparison --------------------------------------------------------------------------
    def selected_version(self) -> Optional[int]:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def show_selected(self) -> None:
        from ...services import training

        version = self.selected_version()
        det = next((d for d in self.detectors() if d.version == version), None)
        val = det.metrics.get("validation", {}) if det else {}
        base = det.base_engine if det else self.base.currentData()  # the untrained engine it started from
        self.compare.setHorizontalHeaderLabels([f"Untrained {BASE_TITLES.get(base, base)}", "Trained"])
        for r, (key, _) in enumerate(METRICS):
            for c, name in enumerate((base, "local")):
                self.compare.setItem(r, c, QTableWidgetItem(_fmt(val.get(name, {}).get(key))))
        self.kept_label.setText(_kept_text(det))
        ex = training.load_examples(self.state.workspace, det) if det else {}
        for row, cells in enumerate(self.example_labels):
            if not ex or row >= len(ex["image"]):
                for cell in cells:
                    cell.clear()
                continue
            sa, lo = ex[base][row], ex["local"][row]
            images = [_rgb(ex["image"][row]),
                      _heat(sa, float(np.median(ex[base])), float(ex[base].max())),
                      _heat(lo, float(np.median(ex["local"])), float(ex["local"].max()))]
            for cell, img in zip(cells, images):
                cell.setPixmap(QPixmap.fromImage(img).scaled(EXAMPLE_W, EXAMPLE_H, Qt.AspectRatioMode.KeepAspectRatio,
                                                             Qt.TransformationMode.SmoothTransformation))

    # --- activate / roll back ----------------------------------------------------------------
    def activate_selected(self) -> None:
        from ...services import training

        version = self.selected_version()
        if version is None or self.busy():
            return
        self._run_detector_job(training.activate, self.state.workspace, self.state.product, version,
                               self.state.device, message=f"Activating v{version}: recalibrating on the references…")

    def roll_back(self) -> None:
        from ...services import training

        if self.busy():
            return
        self._run_detector_job(training.roll_back, self.state.workspace, self.state.product, self.state.device,
                               message="Rolling back: recalibrating the previous detector…")

    def _run_detector_job(self, fn, *args, message: str) -> None:  # noqa: ANN001
        def done(_det: Any) -> None:
            self.state.notify_updated()

        self.task = run_task(self, fn, *args, on_result=done, on_error=self._failed, on_finished=self._finished)
        self.progress.attach(self.task, message)
        self.refresh()

    def shutdown(self) -> None:
        if self.task is not None and self.task.running:
            self.task.cancel()
