"""IAP-AS part of the Products tab: the product's tags (with CLIP suggestions) and its
defect prompt list (editable, with its version)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtWidgets import (QFileDialog, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit,
                               QPushButton, QVBoxLayout, QWidget)

from ...core.errors import InspectorError
from ...services.records import ProductInfo
from ..workers import run_task

TAG_KINDS = ("material", "object", "colour", "surface")
ENGINE_ID = "iapas"


def prompt_listing(ws, info: ProductInfo) -> tuple[str, list[str], str, str]:  # noqa: ANN001 - Workspace
    """(object prompt, defect prompts, version, where from) of an IAP-AS product; runs in a worker.

    An edited list (the `prompts` setting) wins, as it does when the engine loads; else the
    fitted state's cached list; else a preview from the vocabulary and the engineer's words
    (no LLM: the fit may add its words).
    """
    from ...engines.iapas.prompts import PromptSet, build_prompt_set

    obj = str(info.tags.get("object", "") or info.name)
    fitted: Optional[PromptSet] = None
    if info.state_path:
        try:
            state = json.loads((ws.abs_path(info.state_path) / "iapas_state.json").read_text(encoding="utf-8"))
            fitted = PromptSet.from_json(state["prompt_set"])
        except (OSError, ValueError, KeyError, TypeError):
            fitted = None  # another engine's state, or unreadable: show what a fit would build
    edited = info.engine_settings.get("prompts")
    if edited:
        ps = build_prompt_set(fitted.object_prompt if fitted else obj, {}, [], edited)
        where = "edited"
    elif fitted is not None:
        ps, where = fitted, "fitted"
    else:
        ps = build_prompt_set(obj, info.tags, info.defect_words, llm="")
        where = "preview: fit to fix the list"
    return ps.object_prompt, [p for p in ps.prompts if p != ps.object_prompt], ps.version, where


def clip_availability(source: Any) -> tuple[bool, str]:
    """(ok, what is missing) for CLIP tag suggestions; cheap (no torch import)."""
    if importlib.util.find_spec("open_clip") is None:
        return False, "tag suggestions need open_clip: pip install open_clip_torch"
    if isinstance(source, (tuple, list)):
        ok = Path(source[1]).is_file()
        return ok, "" if ok else f"CLIP weights file not found: {source[1]}"
    try:
        from ...weights.loaders import locate

        locate(str(source))
    except InspectorError as exc:
        return False, f"tag suggestions need the CLIP weights '{source}': {exc}"
    return True, ""


def suggest_job(source: Any, image_path: Path, device: str) -> dict[str, Any]:
    """Worker: CLIP's tag suggestions for the image at `image_path`."""
    from ...core.image_io import load_image
    from ...engines.iapas.tagging import suggest_tags

    return suggest_tags(load_image(image_path), source, device=device)


class IapasPanel(QGroupBox):
    """Tags and prompts of an IAP-AS product; `on_save(fields)` stores changed product fields."""

    def __init__(self, on_save: Callable[[dict[str, Any]], None], parent: Optional[QWidget] = None) -> None:
        super().__init__("Zero-shot tags && prompts (IAP-AS)", parent)
        self.setObjectName("iapasPanel")
        self.on_save = on_save
        self.info: Optional[ProductInfo] = None
        self.ws = None
        self.image: Optional[Path] = None  # the image CLIP looks at (the first reference)
        self.device = "cpu"
        self.suggestions: dict[str, Any] = {}
        self.fields: dict[str, QLineEdit] = {}
        form = QGridLayout()  # two tags a row: the Products tab's left column is short at 768 px
        for i, kind in enumerate(TAG_KINDS):
            edit = QLineEdit()
            edit.setObjectName(f"tag_{kind}")
            edit.setPlaceholderText({"material": "steel", "object": "washer", "colour": "grey",
                                     "surface": "matte"}[kind])
            edit.textEdited.connect(self._dirty)
            self.fields[kind] = edit
            form.addWidget(QLabel(kind.capitalize()), i // 2, (i % 2) * 2)
            form.addWidget(edit, i // 2, (i % 2) * 2 + 1)
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)
        self.suggest_button = QPushButton("Suggest tags")
        self.suggest_button.setObjectName("suggestTags")
        self.suggest_button.clicked.connect(self.suggest)
        self.apply_button = QPushButton("Use suggestions")
        self.apply_button.clicked.connect(self.apply_suggestions)
        self.apply_button.setVisible(False)
        self.save_tags = QPushButton("Save tags")
        self.save_tags.setObjectName("saveTags")
        self.save_tags.setEnabled(False)
        self.save_tags.clicked.connect(self._save_tags)
        self.suggested = QLabel()
        self.suggested.setObjectName("tagSuggestions")
        self.suggested.setWordWrap(True)
        self.suggested.setVisible(False)
        tag_row = QHBoxLayout()
        tag_row.addWidget(self.suggest_button)
        tag_row.addWidget(self.apply_button)
        tag_row.addStretch(1)
        tag_row.addWidget(self.save_tags)

        self.prompt_head = QLabel()
        self.prompt_head.setObjectName("promptVersion")
        self.prompt_head.setWordWrap(True)
        self.prompts = QPlainTextEdit()
        self.prompts.setObjectName("promptList")
        self.prompts.setPlaceholderText("one defect phrase per line")
        self.prompts.setToolTip("The defect phrases Grounding DINO looks for, one per line. Saving an "
                                "edit fixes the list for this product (no vocabulary, no LLM).")
        self.prompts.setMinimumHeight(90)
        self.prompts.setMaximumHeight(160)  # the Fit button below must stay on a 768 px screen
        self.prompts.textChanged.connect(self._prompts_dirty)
        self.save_prompts = QPushButton("Save prompts")
        self.save_prompts.setObjectName("savePrompts")
        self.save_prompts.setEnabled(False)
        self.save_prompts.clicked.connect(self._save_prompts)
        self.reset_prompts = QPushButton("Regenerate")
        self.reset_prompts.setToolTip("Forget the edited list: the next fit builds it from the tags again")
        self.reset_prompts.clicked.connect(self._regenerate)
        p_row = QHBoxLayout()
        p_row.addWidget(self.reset_prompts)
        p_row.addStretch(1)
        p_row.addWidget(self.save_prompts)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(tag_row)
        lay.addWidget(self.suggested)
        lay.addWidget(self.prompt_head)
        lay.addWidget(self.prompts)
        lay.addLayout(p_row)
        self._loaded_prompts: list[str] = []
        self.clip_source: Any = None  # None: the product's clip_id setting, else the default CLIP

    # --- display ---------------------------------------------------------------------------
    def set_product(self, ws, info: Optional[ProductInfo], image: Optional[Path] = None,  # noqa: ANN001
                    device: str = "cpu") -> None:
        self.ws, self.info, self.image, self.device = ws, info, image, device
        shown = info is not None and info.engine == ENGINE_ID
        self.setVisible(shown)
        if not shown:
            return
        for kind, edit in self.fields.items():
            edit.setText(str(info.tags.get(kind, "")))
        self.save_tags.setEnabled(False)
        self.suggestions = {}
        self.suggested.setVisible(False)
        self.apply_button.setVisible(False)
        self.prompt_head.setText("Prompts: loading…")
        self.reset_prompts.setEnabled(bool(info.engine_settings.get("prompts")))
        run_task(self, prompt_listing, ws, info, hooks=False,
                 on_result=lambda r, n=info.name: self._show_prompts(n, *r),
                 on_error=lambda m, _d: self.prompt_head.setText(f"Prompts unavailable: {m}"))
        self._check_clip()

    def _show_prompts(self, name: str, obj: str, prompts: list[str], version: str, where: str) -> None:
        if self.info is None or self.info.name != name:
            return
        self.prompt_head.setText(f"Defect prompts · version <b>{version}</b> ({where}) · object: “{obj}”")
        self._loaded_prompts = list(prompts)
        self.prompts.blockSignals(True)
        self.prompts.setPlainText("\n".join(prompts))
        self.prompts.blockSignals(False)
        self.save_prompts.setEnabled(False)

    def source(self) -> Any:
        if self.clip_source is not None:
            return self.clip_source
        from ...engines.iapas.tagging import DEFAULT_CLIP

        return (self.info.engine_settings.get("clip_id") if self.info else None) or DEFAULT_CLIP

    def _check_clip(self) -> None:
        self.suggest_button.setEnabled(False)
        self.suggest_button.setToolTip("Checking whether CLIP is installed…")
        run_task(self, clip_availability, self.source(), hooks=False, on_result=lambda r: self._clip_ready(*r))

    def _clip_ready(self, ok: bool, reason: str) -> None:
        self.suggest_button.setEnabled(ok)
        where = self.image.name if self.image else "an image of the product you choose"
        self.suggest_button.setToolTip(f"CLIP suggests material, object, colour and surface from {where}"
                                       if ok else reason)

    # --- tags ------------------------------------------------------------------------------
    def tag_values(self) -> dict[str, str]:
        tags = dict(self.info.tags) if self.info else {}
        for kind, edit in self.fields.items():
            v = " ".join(edit.text().split())
            if v:
                tags[kind] = v
            else:
                tags.pop(kind, None)
        return tags

    def _dirty(self) -> None:
        self.save_tags.setEnabled(self.info is not None and self.tag_values() != self.info.tags)

    def _save_tags(self) -> None:
        if self.info is not None:
            self.on_save({"tags": self.tag_values()})

    def suggest(self) -> None:
        if self.info is None:
            return
        image = self.image
        if image is None:  # no reference yet: the engineer picks a photo of the product
            chosen, _ = QFileDialog.getOpenFileName(self, "An image of the product", str(Path.home()),
                                                    "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff)")
            if not chosen:
                return
            image = Path(chosen)
        self.suggest_button.setEnabled(False)
        self.suggested.setVisible(True)
        self.suggested.setText("CLIP is looking at the image…")
        run_task(self, suggest_job, self.source(), image, self.device, hooks=False,
                 on_result=self._suggested, on_error=lambda m, _d: self._suggest_failed(m))

    def _suggest_failed(self, message: str) -> None:
        self.suggested.setText(f"No suggestions: {message}")
        self.suggest_button.setEnabled(True)

    def _suggested(self, tags: dict[str, Any]) -> None:
        self.suggestions = tags
        self.suggest_button.setEnabled(True)
        self.suggested.setText("Suggested: " + ", ".join(
            f"{k} <b>{s.value}</b> ({s.probability:.0%})" for k, s in tags.items()))
        self.apply_button.setVisible(True)

    def apply_suggestions(self) -> None:
        """Put the suggestions in the fields; the engineer edits them and saves."""
        for kind, s in self.suggestions.items():
            if kind in self.fields:
                self.fields[kind].setText(s.value)
        self._dirty()

    # --- prompts ---------------------------------------------------------------------------
    def prompt_values(self) -> list[str]:
        return list(dict.fromkeys(" ".join(line.split()) for line in self.prompts.toPlainText().splitlines()
                                  if line.strip()))

    def _prompts_dirty(self) -> None:
        values = self.prompt_values()
        self.save_prompts.setEnabled(bool(values) and values != self._loaded_prompts)

    def _save_prompts(self) -> None:
        if self.info is not None and self.prompt_values():
            self.on_save({"engine_settings": {**self.info.engine_settings, "prompts": self.prompt_values()}})

    def _regenerate(self) -> None:
        if self.info is not None:
            settings = {k: v for k, v in self.info.engine_settings.items() if k != "prompts"}
            self.on_save({"engine_settings": settings})
