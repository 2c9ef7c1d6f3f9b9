"""The product's recipe: description, tags, defect words and engine (with its availability)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QVBoxLayout, QWidget)

from ...core import ignore_regions
from ...engines.ignoring import UNSUPPORTED
from ...engines.registry import ENGINES
from ...services.engine_state import ignore_regions_of
from ...services.records import ProductInfo
from ..dialogs import format_tags, parse_tags, parse_words
from ..workers import run_task


def engine_availability(engine_id: str, settings: dict[str, Any]) -> tuple[bool, str]:
    """(ok, reason) for an engine; runs in a worker (checks may look for weights on disk)."""
    status = ENGINES[engine_id].availability(settings)
    return status.ok, status.reason


REGIONS_TIP = "Mark parts of the image that are not inspected (a clamp, a date code, the background)"


class ProductForm(QGroupBox):
    """Edits one product; `on_save(fields)` receives only the changed fields."""

    def __init__(self, on_save: Callable[[dict[str, Any]], None],
                 on_models: Optional[Callable[[], None]] = None,
                 on_edit_regions: Optional[Callable[[], None]] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__("Recipe", parent)
        self.on_save = on_save
        self.info: Optional[ProductInfo] = None
        self.description = QLineEdit()
        self.tags = QLineEdit()
        self.tags.setPlaceholderText("material=steel, object=washer")
        self.words = QLineEdit()
        self.words.setPlaceholderText("scratch, dent, crack")
        self.engine = QComboBox()
        self.engine.setObjectName("engineCombo")
        for spec in ENGINES.values():
            self.engine.addItem(spec.title, spec.id)
            self.engine.setItemData(self.engine.count() - 1, spec.summary, Qt.ItemDataRole.ToolTipRole)
        self.availability = QLabel()
        self.availability.setObjectName("engineAvailability")
        self.availability.setWordWrap(True)
        self.models_button = QPushButton("Open Models…")
        self.models_button.setVisible(False)
        if on_models:
            self.models_button.clicked.connect(on_models)
        self.regions = QLabel()
        self.regions.setObjectName("ignoreRegionsText")
        self.regions_button = QPushButton("Edit…")
        self.regions_button.setObjectName("editIgnoreRegions")
        self.regions_button.setToolTip(REGIONS_TIP)
        if on_edit_regions:
            self.regions_button.clicked.connect(on_edit_regions)
        regions_row = QHBoxLayout()
        regions_row.addWidget(self.regions, 1)
        regions_row.addWidget(self.regions_button)
        self.save_button = QPushButton("Save recipe")
        self.save_button.setObjectName("saveRecipe")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Description", self.description)
        form.addRow("Tags", self.tags)
        form.addRow("Defect words", self.words)
        form.addRow("Engine", self.engine)
        form.addRow("Ignore regions", regions_row)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.availability)
        row = QHBoxLayout()
        row.addWidget(self.models_button)
        row.addStretch(1)
        row.addWidget(self.save_button)
        lay.addLayout(row)
        for w in (self.description, self.tags, self.words):
            w.textEdited.connect(self._dirty)
        self.engine.currentIndexChanged.connect(self._engine_changed)

    def set_product(self, info: Optional[ProductInfo]) -> None:
        self.info = info
        self.setEnabled(info is not None)
        self.description.setText(info.description if info else "")
        self.tags.setText(format_tags(info.tags) if info else "")
        self.words.setText(", ".join(info.defect_words) if info else "")
        self.engine.blockSignals(True)
        idx = self.engine.findData(info.engine) if info else 0
        self.engine.setCurrentIndex(max(idx, 0))
        self.engine.blockSignals(False)
        self.save_button.setEnabled(False)
        self.regions.setText(ignore_regions.describe(ignore_regions_of(info)) if info else "")
        takes = info is not None and info.engine not in UNSUPPORTED
        self.regions_button.setEnabled(takes)
        why = UNSUPPORTED.get(info.engine, "") if info is not None else ""
        self.regions_button.setToolTip(REGIONS_TIP if takes else f"Not with this engine: {why}")
        self._check_engine()

    def changes(self) -> dict[str, Any]:
        if self.info is None:
            return {}
        new = dict(description=self.description.text().strip(), tags=parse_tags(self.tags.text()),
                   defect_words=parse_words(self.words.text()), engine=self.engine.currentData())
        old = dict(description=self.info.description, tags=self.info.tags,
                   defect_words=self.info.defect_words, engine=self.info.engine)
        return {k: v for k, v in new.items() if v != old[k]}

    def _dirty(self) -> None:
        self.save_button.setEnabled(bool(self.changes()))

    def _engine_changed(self) -> None:
        self._dirty()
        self._check_engine()

    def _check_engine(self) -> None:
        engine_id = self.engine.currentData()
        if self.info is None or engine_id is None:
            self.availability.setText("")
            return
        self.availability.setText("Checking whether this engine can run here…")
        settings = {**self.info.engine_settings, "defect_words": self.info.defect_words}
        run_task(self, engine_availability, engine_id, settings, hooks=False,
                 on_result=lambda r, e=engine_id: self._show_availability(e, *r),
                 on_error=lambda m, _d, e=engine_id: self._show_availability(e, False, m))

    def _show_availability(self, engine_id: str, ok: bool, reason: str) -> None:
        if engine_id != self.engine.currentData():
            return
        spec = ENGINES[engine_id]
        if ok:
            self.availability.setStyleSheet("color: #1b7f3b;")
            self.availability.setText(f"✔ Available. {spec.summary}")
        else:
            self.availability.setStyleSheet("color: #c62828;")
            self.availability.setText(f"✖ Not available here: {reason}")
        self.models_button.setVisible(not ok and bool(spec.requirements.weights))

    def _save(self) -> None:
        changes = self.changes()
        if changes:
            self.on_save(changes)
