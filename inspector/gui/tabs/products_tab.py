"""Products tab: recipe, reference images, fit & calibrate, threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFileDialog, QGroupBox, QHBoxLayout, QInputDialog, QLabel, QPushButton,
                               QSplitter, QStackedLayout, QVBoxLayout, QWidget)

from ...core.errors import InspectorError
from ...core.image_io import load_image
from ...engines.registry import ENGINES
from ...services import engine_state, products as product_svc, references as ref_svc
from ..dialogs import DeleteProductDialog, NewProductDialog
from ..state import AppState
from ..widgets.detector_line import DetectorLine
from ..widgets.empty_state import EmptyState
from ..widgets.error_dialog import show_error
from ..widgets.progress_panel import ProgressPanel
from ..widgets.region_editor import IgnoreRegionsDialog
from ..widgets.scrolling import scrolling
from ..workers import run_task
from .iapas_panel import IapasPanel
from .product_form import ProductForm, engine_availability
from .recipe_panel import RecipePanel
from .reference_grid import ReferenceGrid
from .threshold_panel import ThresholdPanel


NO_PRODUCTS = "No products yet"
NO_PRODUCTS_DETAIL = ("A product is one part type: its good reference images, the defects to look for and "
                      "its threshold.")


class ProductsTab(QWidget):
    title = "Products"

    def __init__(self, state: AppState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self.heading = QLabel()
        f = self.heading.font()
        f.setPointSizeF(f.pointSizeF() * 1.5)
        f.setBold(True)
        self.heading.setFont(f)
        self.summary = QLabel()
        self.summary.setObjectName("productSummary")
        new_btn = QPushButton("New product…")
        new_btn.clicked.connect(self.new_product)
        self.rename_btn = QPushButton("Rename…")
        self.rename_btn.clicked.connect(self.rename_product)
        self.delete_btn = QPushButton("Delete…")
        self.delete_btn.clicked.connect(self.delete_product)
        head = QHBoxLayout()
        head.addWidget(self.heading)
        head.addWidget(self.summary, 1)
        for b in (new_btn, self.rename_btn, self.delete_btn):
            head.addWidget(b)

        self.form = ProductForm(self.save_fields, on_models=self._open_models, on_edit_regions=self.edit_regions)
        fit_box = QGroupBox("Detector")
        self.fit_button = QPushButton("Fit && calibrate")
        self.fit_button.setObjectName("fitButton")
        self.fit_button.setMinimumHeight(44)
        self.fit_button.clicked.connect(self.fit)
        self.fit_status = QLabel()
        self.fit_status.setWordWrap(True)
        self.fit_progress = ProgressPanel()
        self.detector_line = DetectorLine(state)  # the trained local detector (Training tab)
        fl = QVBoxLayout(fit_box)
        fl.addWidget(self.fit_status)
        fl.addWidget(self.detector_line)
        fl.addWidget(self.fit_button)
        fl.addWidget(self.fit_progress)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.form)
        self.iapas = IapasPanel(self._save)
        ll.addWidget(self.iapas)
        ll.addWidget(fit_box)
        self.recipe = RecipePanel(self.publish)
        ll.addWidget(self.recipe)
        ll.addStretch(1)

        refs_box = QGroupBox("Good reference images")
        add_files = QPushButton("Add images…")
        add_files.clicked.connect(self.add_files_dialog)
        add_folder = QPushButton("Add folder…")
        add_folder.clicked.connect(self.add_folder_dialog)
        self.remove_btn = QPushButton("Remove selected")
        self.remove_btn.clicked.connect(self.remove_selected)
        self.refs_count = QLabel()
        tools = QHBoxLayout()
        for w in (add_files, add_folder, self.remove_btn):
            tools.addWidget(w)
        tools.addStretch(1)
        tools.addWidget(self.refs_count)
        self.grid = ReferenceGrid(self.add_files_dialog)
        self.grid.files_dropped.connect(self.add_paths)
        self.refs_progress = ProgressPanel()
        rl = QVBoxLayout(refs_box)
        rl.addLayout(tools)
        rl.addWidget(self.grid, 1)
        rl.addWidget(self.refs_progress)

        self.threshold = ThresholdPanel(self.commit_target, self.commit_band, on_commit_score=self.commit_score)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("productsSplitter")
        # the left column scrolls on a short screen rather than squeezing its panels' rows together
        for w in (scrolling(left), refs_box, self.threshold):
            self.splitter.addWidget(w)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([330, 560, 340])

        page = QWidget()
        pl = QVBoxLayout(page)
        pl.addLayout(head)
        pl.addWidget(self.splitter, 1)
        self.empty = EmptyState(NO_PRODUCTS, "New product…", self.new_product, detail=NO_PRODUCTS_DETAIL)
        self.stack = QStackedLayout(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(page)
        self.page = page
        state.product_changed.connect(lambda _n: self.refresh())
        state.product_updated.connect(lambda _n: self.refresh())
        state.workspace_changed.connect(self.refresh)
        # operator mode: everything that changes the recipe is disabled (and refused below)
        self._edit_widgets = [new_btn, self.rename_btn, self.delete_btn, add_files, add_folder, self.remove_btn,
                              self.form, self.threshold, self.fit_button, self.empty]
        state.role_changed.connect(lambda _r: self.refresh())
        self.refresh()

    # --- display ---------------------------------------------------------------------------
    def refresh(self) -> None:
        self._show_product()
        self._apply_role()  # last: the form enables itself for a product

    def _show_product(self) -> None:
        info = self.state.product_info()
        self.stack.setCurrentWidget(self.page if info else self.empty)
        if self.state.workspace is None:
            self.empty.set_message("No workspace open", "Open or create a workspace from the File menu.")
        else:
            self.empty.set_message(NO_PRODUCTS, NO_PRODUCTS_DETAIL)
        if info is None:
            self.form.set_product(None)
            self.threshold.set_product(None, None)
            return
        ws = self.state.workspace
        self.heading.setText(info.name)
        fitted = self.state.fitted_text(info)
        self.summary.setText(f"  {info.n_references} reference image(s) · {fitted}")
        self.form.set_product(info)
        refs = ref_svc.list_references(ws, info.name)
        self.grid.set_refs(refs, ws.root)
        self.refs_count.setText(f"{len(refs)} image(s)")
        calibration = self.state.calibration(info)
        suspects = self.state.suspect_references(refs, info, calibration)
        self.threshold.set_product(info, calibration, [r.original_name for r in suspects])
        self.iapas.set_product(ws, info, ws.abs_path(refs[0].path) if refs else None, self.state.device)
        needed = ENGINES[info.engine].requirements.min_references if info.engine in ENGINES else 1
        if not refs and needed == 0 and not info.state_path:
            self.fit_status.setText("No good images needed: fit to build the defect prompts. Until good "
                                    "images are added the threshold is an uncalibrated default.")
        elif not refs and needed == 0:
            self.fit_status.setText(f"{fitted.split(' · ', 1)[1].capitalize()} with no good images "
                                    "(uncalibrated).")
        elif not refs:
            self.fit_status.setText("Add good reference images, then fit.")
        elif "to switch to" in fitted:
            in_use, version = fitted.split(" · ")[:2]
            self.fit_status.setText(f"<b>Inspections still use {in_use} ({version})</b>: fit to switch "
                                    f"to {fitted.rsplit('to switch to ', 1)[1]}.")
        elif "waits for Publish" in fitted:
            self.fit_status.setText("<b>Inspections use the published version</b>: check the draft below, "
                                    "then publish it.")
        elif "refit needed" in fitted or "not fitted" in fitted or "draft pending" in fitted:
            self.fit_status.setText(f"<b>{fitted.split(' · ', 1)[1].capitalize()}</b>: fit to use the "
                                    f"current {len(refs)} reference(s).")
        else:
            self.fit_status.setText(f"{fitted.split(' · ', 1)[1].capitalize()} on {len(refs)} reference(s).")
        self.fit_button.setEnabled((bool(refs) or needed == 0) and not self.fit_progress.busy()
                                    and self.state.can_edit())
        self.recipe.set_product(ws, info, self.state.can_edit())

    def _apply_role(self) -> None:
        editable = self.state.can_edit()
        for w in self._edit_widgets:
            if w is not self.fit_button or not editable:
                w.setEnabled(editable)
            w.setToolTip("" if editable else "Operator mode: click “Engineer mode” and give the engineer "
                                             "password to change the recipe")

    # --- product actions -------------------------------------------------------------------
    def new_product(self) -> None:
        if not self.state.can_edit():  # operator mode
            return
        if self.state.workspace is None:
            return
        dlg = NewProductDialog(self)
        dlg.accepted.connect(lambda: self.create_product(**dlg.values()))
        dlg.open()

    def create_product(self, name: str, description: str = "", tags: Optional[dict] = None,
                       defect_words: Optional[list[str]] = None) -> bool:
        if not self.state.can_edit():  # operator mode
            return False
        try:
            product_svc.create_product(self.state.workspace, name, description, tags or {}, defect_words or [])
        except InspectorError as exc:
            show_error(self, str(exc))
            return False
        self.state.notify_products_changed(select=name)
        return True

    def rename_product(self) -> None:
        if not self.state.can_edit():  # operator mode
            return
        old = self.state.product
        new, ok = QInputDialog.getText(self, "Rename product", f"New name for '{old}':", text=old)
        if ok and new.strip() and new.strip() != old:
            self.do_rename(old, new.strip())

    def do_rename(self, old: str, new: str) -> bool:
        if not self.state.can_edit():  # operator mode
            return False
        try:
            product_svc.rename_product(self.state.workspace, old, new)
        except InspectorError as exc:
            show_error(self, str(exc))
            return False
        self.state.notify_products_changed(select=new)
        return True

    def delete_product(self) -> None:
        if not self.state.can_edit():  # operator mode
            return
        info = self.state.product_info()
        if info is None:
            return
        dlg = DeleteProductDialog(info.name, info.n_references, self)
        dlg.accepted.connect(lambda: self.do_delete(info.name, dlg.confirm.text()))
        dlg.open()

    def do_delete(self, name: str, confirm: str) -> bool:
        if not self.state.can_edit():  # operator mode
            return False
        try:
            product_svc.delete_product(self.state.workspace, name, confirm)
        except InspectorError as exc:
            show_error(self, str(exc))
            return False
        self.state.notify_products_changed(select="")
        return True

    def save_fields(self, fields: dict[str, Any]) -> None:
        if not self.state.can_edit():  # operator mode
            return
        """Save recipe fields; a new engine is saved only once it is known to run here."""
        info = self.state.product_info()
        if "engine" in fields and info is not None:
            engine_id = fields["engine"]
            settings = {**info.engine_settings, "defect_words": info.defect_words}
            self.form.save_button.setEnabled(False)
            run_task(self, engine_availability, engine_id, settings, hooks=False,
                     on_result=lambda r, f=dict(fields), p=info.name: self._save_if_available(p, f, *r),
                     on_error=lambda m, _d, f=dict(fields), p=info.name: self._save_if_available(p, f, False, m))
            return
        self._save(fields)

    def _save_if_available(self, product: str, fields: dict[str, Any], ok: bool, reason: str) -> None:
        if product != self.state.product:
            return  # the user moved on to another product meanwhile
        if not ok:
            title = ENGINES[fields["engine"]].title
            show_error(self, f"{title} cannot run on this computer, so the recipe was not saved: {reason}",
                       title="Engine not available")
            self.form.save_button.setEnabled(bool(self.form.changes()))
            return
        self._save(fields)

    def _save(self, fields: dict[str, Any]) -> None:
        if not self.state.can_edit():  # operator mode
            return
        try:
            product_svc.update_product(self.state.workspace, self.state.product, **fields)
        except InspectorError as exc:
            show_error(self, str(exc))
            return
        self.state.notify_updated()

    def edit_regions(self) -> None:
        """The ignore-regions editor on the first reference image (read in a worker); OK saves the
        boxes (audited)."""
        info = self.state.product_info()
        if info is None or not self.state.can_edit():
            return
        ws = self.state.workspace
        refs = ref_svc.list_references(ws, info.name)
        if not refs:
            self._open_regions(info.name, None)
            return
        run_task(self, load_image, ws.abs_path(refs[0].path), hooks=False,
                 on_result=lambda image, name=info.name: self._open_regions(name, image),
                 on_error=lambda _m, _d, name=info.name: self._open_regions(name, None))

    def _open_regions(self, product: str, image: Optional[np.ndarray]) -> None:
        info = self.state.product_info()
        if info is None or info.name != product:
            return  # the user moved on to another product meanwhile
        # without a readable reference the boxes are drawn on a blank frame of the same fractions
        dialog = IgnoreRegionsDialog(image, engine_state.ignore_regions_of(info), info.name, self)
        self.regions_dialog = dialog  # for tests
        dialog.accepted.connect(lambda d=dialog, name=info.name: self._save_regions(name, d.boxes()))
        dialog.open()

    def _save_regions(self, product: str, boxes: list) -> None:
        info = self.state.product_info()
        if info is None or info.name != product or boxes == engine_state.ignore_regions_of(info):
            return
        run_task(self, engine_state.set_ignore_regions, self.state.workspace, product, boxes, hooks=False,
                 on_result=lambda _i: self.state.notify_updated(),
                 on_error=lambda m, _d: show_error(self, m))

    def _open_models(self) -> None:
        main = self.window()
        if hasattr(main, "show_tab"):
            main.show_tab("models")

    # --- references --------------------------------------------------------------------------
    def _start_dir(self) -> str:
        root = self.state.workspace_root()
        demo = root / "demo-data" if root else None
        return str(demo if demo and demo.is_dir() else Path.home())

    def add_files_dialog(self) -> None:
        if not self.state.can_edit():  # operator mode
            return
        files, _ = QFileDialog.getOpenFileNames(self, "Add good reference images", self._start_dir(),
                                                "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff)")
        if files:
            self.add_paths([Path(f) for f in files])

    def add_folder_dialog(self) -> None:
        if not self.state.can_edit():  # operator mode
            return
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of good images", self._start_dir())
        if folder:
            self.add_paths([Path(folder)])

    def add_paths(self, paths: list[Path]) -> None:
        if not self.state.can_edit():  # operator mode
            return
        if not self.state.product or self.refs_progress.busy():
            return
        product = self.state.product
        task = run_task(self, ref_svc.add_references, self.state.workspace, product, list(paths),
                        on_result=self._added)
        self.refs_progress.attach(task, "Checking images…")

    def _added(self, result: tuple[list, list[str]]) -> None:
        added, skipped = result
        self.state.notify_updated()
        if skipped and not added:
            show_error(self, f"No new images: {len(skipped)} already in this product's references.",
                       "\n".join(skipped))

    def remove_selected(self) -> None:
        if not self.state.can_edit():  # operator mode
            return
        ids = self.grid.selected_ids()
        try:
            for ref_id in ids:
                ref_svc.remove_reference(self.state.workspace, self.state.product, ref_id)
        except InspectorError as exc:
            show_error(self, str(exc))
        if ids:
            self.state.notify_updated()

    # --- fit & threshold -----------------------------------------------------------------------
    def fit(self) -> None:
        if not self.state.can_edit():  # operator mode
            return
        if not self.state.product or self.fit_progress.busy():
            return
        self.fit_button.setEnabled(False)
        task = run_task(self, engine_state.fit_product, self.state.workspace, self.state.product,
                        device=self.state.device,
                        on_result=lambda _d: self.fit_status.setText("Fitted and calibrated."),
                        on_cancelled=lambda: self.fit_status.setText("Fit cancelled; the previous state is kept."),
                        on_finished=self.state.notify_updated)
        self.fit_progress.attach(task, "Fitting…")

    def publish(self) -> None:
        """The draft becomes what inspections use (engineer only; audited by the service)."""
        if not self.state.can_edit() or not self.state.product:  # operator mode
            return
        try:
            version = engine_state.publish_draft(self.state.workspace, self.state.product)
        except InspectorError as exc:
            show_error(self, str(exc))
            return
        self.fit_status.setText(f"Published v{version}: inspections use it from the next part.")
        self.state.notify_updated()

    def commit_band(self, band: float) -> None:
        """The recheck band: a verdict setting, applies from the next part on (no refit)."""
        if not self.state.can_edit():  # operator mode
            return
        info = self.state.product_info()
        if info is None or abs(engine_state.recheck_band(info) - band) < 1e-12:
            return
        run_task(self, engine_state.set_recheck_band, self.state.workspace, info.name, band, hooks=False,
                 on_finished=self.state.notify_updated)

    def commit_score(self, score: float) -> None:
        if not self.state.can_edit():  # operator mode
            return
        info = self.state.product_info()
        if info is None or not info.state_path:
            return
        run_task(self, engine_state.set_threshold_score, self.state.workspace, info.name, score, hooks=False,
                 on_finished=self.state.notify_updated)

    def commit_target(self, frr: float) -> None:
        if not self.state.can_edit():  # operator mode
            return
        info = self.state.product_info()
        if info is None or (abs(info.target_frr - frr) < 1e-12 and not self.threshold.was_fixed):
            return
        ws, name = self.state.workspace, info.name
        if not info.state_path:
            self.save_fields({"target_frr": frr})
            return
        run_task(self, engine_state.set_target_frr, ws, name, frr, hooks=False,
                 on_finished=self.state.notify_updated)
