"""IAP-AS: zero-shot anomaly segmentation from a product's tags (seed 002).

tags -> defect prompts (fit; cached) -> Grounding DINO boxes (object prompt + defect
prompts) -> size/object filter, NMS, top-K -> SAM masks of the kept boxes ->
map = sum(mask_k * conf_k) averaged where masks overlap; image score = max of the map.
Raw units are box confidences in [0, 1]. No normalisation over a test set: every image is
scored on its own, so a single-image verdict means the same on the line as in evaluation.
References are optional; with them the object's size comes from them (fit).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ...core.errors import EngineUnavailable, InspectorError
from ...core.image_io import atomic_write_bytes
from ...core.progress import CancelFn, ProgressFn, check_cancel, report
from ..base import ScoreModel
from .config import IapasSettings
from .detect import Box, GroundingDetector, chunk_prompts, load_detector
from .filter import Decision, filter_boxes, object_area, reference_object_fraction
from .prompts import PromptSet, build_prompt_set
from .segment import BoxSegmenter, weighted_map

STATE_JSON = "iapas_state.json"
STATE_FORMAT = 1
# Fixed by the fitted state: prompts and object size depend on them.
STRUCTURAL = ("object_name", "tags", "defect_words", "llm", "llm_max_new_tokens",
              "size_from_references")


@dataclass
class ImageOutcome:
    """What IAP-AS found in one image, at the image's own size."""

    score: float
    anomaly_map: np.ndarray  # float32 (H, W) raw map
    decisions: list[Decision] = field(default_factory=list)  # every defect box, kept or dropped
    masks: list[np.ndarray] = field(default_factory=list)  # bool per kept decision, at work size
    object_boxes: list[Box] = field(default_factory=list)
    object_area: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    image_prompts: Optional[list[str]] = None  # describe-then-segment: this image's own prompts

    @property
    def kept(self) -> list[Decision]:
        return [d for d in self.decisions if d.kept]


def _shrink(image: np.ndarray, work_size: int) -> tuple[np.ndarray, float]:
    """The image with its longest side at most `work_size` (INTER_AREA), and the scale used."""
    import cv2

    h, w = image.shape[:2]
    if not work_size or max(h, w) <= work_size:
        return image, 1.0
    s = work_size / max(h, w)
    small = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return small, s


def _scale_box(b: Box, s: float) -> Box:
    return Box(tuple(v / s for v in b.xyxy), b.score, b.prompt, b.phrase)  # type: ignore[arg-type]


class IapasModel(ScoreModel):
    """Zero-shot scorer. `fit` (references optional) builds the prompts and the object size;
    `score` runs detector, filter and SAM per image (serialised by a lock)."""

    engine_id = "iapas"
    version = "1"

    def __init__(self, settings: Optional[dict[str, Any]] = None, device: str = "cpu") -> None:
        super().__init__(settings, device)
        self.config = IapasSettings.from_dict(self.settings)
        self.prompt_set: Optional[PromptSet] = None
        self.object_fraction: Optional[float] = None
        self.n_references = 0
        self._detector: Optional[GroundingDetector] = None
        self._segmenter: Optional[BoxSegmenter] = None
        self._groups: Optional[list[list[str]]] = None
        self._describer: Any = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ models
    def _autocast(self):
        import torch

        if not self.device.startswith("cuda") or self.config.precision == "fp32":
            return None
        dtype = torch.bfloat16 if self.config.precision == "bf16" else torch.float16
        return lambda: torch.autocast("cuda", dtype=dtype)

    def _check_device(self) -> None:
        import torch

        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise EngineUnavailable("IAP-AS was asked to run on CUDA, but no CUDA GPU is usable")

    @property
    def detector(self) -> GroundingDetector:
        if self._detector is None:
            self._check_device()
            c = self.config
            self._detector = load_detector(c.detector_id, self.device, c.box_threshold,
                                           c.text_threshold, c.max_text_tokens, c.text_batch,
                                           self._autocast(), c.detector_folder)
        return self._detector

    @property
    def segmenter(self) -> BoxSegmenter:
        if self._segmenter is None:
            self._check_device()
            from ...weights.loaders import load_sam, load_sam_model

            c = self.config
            sam = load_sam(c.sam_variant, c.sam_checkpoint, self.device) if c.sam_checkpoint \
                else load_sam_model(c.sam_id, self.device)
            self._segmenter = BoxSegmenter(sam, self.config.sam_batch, self._autocast())
        return self._segmenter

    @property
    def describer(self) -> Any:
        """The multimodal model of describe-then-segment (only when describe is on)."""
        if self._describer is None:
            self._check_device()
            from .describe import load_describer

            self._describer = load_describer(self.config.describe_model, self.device,
                                             self.config.llm_max_new_tokens)
        return self._describer

    def _described_groups(self, image: np.ndarray) -> tuple[list[list[str]], list[str]]:
        """This image's captions from what the multimodal model sees (describe-then-segment)."""
        obj = self.prompt_set.object_prompt
        words = [w for w in self.describer.describe(image, obj) if w != obj]
        det = self.detector
        return chunk_prompts([obj] + words, det.tokenizer, det.budget), words

    @property
    def groups(self) -> list[list[str]]:
        """The object prompt, then the defect prompts, in captions within the detector's token
        budget. The object prompt leads the first caption: a box it scores highest is the
        object's, and it costs no extra detector pass."""
        if self._groups is None:
            if self.prompt_set is None:
                raise InspectorError("IAP-AS model is not fitted: fit it first (references are optional)")
            det = self.detector
            obj = self.prompt_set.object_prompt
            defects = [p for p in self.prompt_set.prompts if p != obj]
            self._groups = chunk_prompts([obj] + defects, det.tokenizer, det.budget)
        return self._groups

    # ------------------------------------------------------------------ fit
    def fit(self, references: Sequence[np.ndarray], progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelFn] = None) -> None:
        """Build the prompt set (vocabulary, engineer's words, local LLM if any); with good
        references and `size_from_references`, measure the object's share of the image."""
        c = self.config
        use_refs = c.size_from_references and len(references) > 0
        total = 1 + (len(references) if use_refs else 0)
        report(progress, 0, total, "building the defect prompts")
        self.prompt_set = build_prompt_set(c.object_tag, c.tags, c.defect_words, c.prompts, c.llm,
                                           c.llm_max_new_tokens, self.device)
        self._groups = None
        self.object_fraction = None
        self.n_references = len(references)
        fractions = []
        if use_refs:
            det = self.detector
            for i, ref in enumerate(references):
                check_cancel(cancel)
                report(progress, 1 + i, total, f"measuring the object in reference {i + 1} of {len(references)}")
                small, _ = _shrink(ref, c.work_size)
                (boxes,) = det.detect(small, [[self.prompt_set.object_prompt]])
                area = object_area(boxes, small.shape)
                fractions.append(area / float(small.shape[0] * small.shape[1]))
            self.object_fraction = reference_object_fraction(fractions)
        check_cancel(cancel)
        report(progress, total, total, "done")

    # ------------------------------------------------------------------ score
    def score(self, images: Sequence[np.ndarray]) -> list[tuple[float, np.ndarray]]:
        return [(o.score, o.anomaly_map) for o in self.score_detailed(images)]

    def score_detailed(self, images: Sequence[np.ndarray]) -> list[ImageOutcome]:
        """Per image: raw score, raw map at the image's size, every box decision and stage times."""
        groups = self.groups
        seg = self.segmenter
        if self.config.describe == "on":
            _ = self.describer  # load (or fail with the fix) before the first image
        out = []
        with self._lock:
            for img in images:
                if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                    raise InspectorError(f"IAP-AS expects uint8 RGB images (H, W, 3), got "
                                         f"{img.dtype} {img.shape}")
                out.append(self._score_one(img, groups, seg))
        return out

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()

    def _score_one(self, image: np.ndarray, groups: list[list[str]], seg: BoxSegmenter) -> ImageOutcome:
        import cv2

        c = self.config
        t = {}
        t0 = time.perf_counter()
        small, s = _shrink(image, c.work_size)
        t["resize"] = (time.perf_counter() - t0) * 1e3
        image_prompts: Optional[list[str]] = None
        if c.describe == "on":
            t0 = time.perf_counter()
            groups, image_prompts = self._described_groups(small)
            t["describe"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        per_group = self.detector.detect(small, groups)
        self._sync()
        t["detect"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        obj = self.prompt_set.object_prompt
        boxes = [b for g in per_group for b in g]
        obj_boxes = [b for b in boxes if b.prompt == obj]
        defects = [b for b in boxes if b.prompt != obj]
        area = object_area(obj_boxes, small.shape, self.object_fraction)
        decisions = filter_boxes(defects, area, self.prompt_set.object_prompt, c.max_box_ratio,
                                 c.nms_iou, c.top_k)
        kept = [d for d in decisions if d.kept]
        t["filter"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        masks: list[np.ndarray] = []
        if kept:
            seg.embed(small)
            self._sync()
            t["sam_embed"] = (time.perf_counter() - t0) * 1e3
            t1 = time.perf_counter()
            masks = seg.masks(small, [d.box.xyxy for d in kept])
            self._sync()
            t["sam_decode"] = (time.perf_counter() - t1) * 1e3
        else:
            t["sam_embed"] = t["sam_decode"] = 0.0
        t0 = time.perf_counter()
        raw = weighted_map(masks, [d.box.score for d in kept], small.shape[:2])
        h, w = image.shape[:2]
        if s != 1.0:
            raw = cv2.resize(raw, (w, h), interpolation=cv2.INTER_LINEAR)
            for d in decisions:
                d.box = _scale_box(d.box, s)
            obj_boxes = [_scale_box(b, s) for b in obj_boxes]
            area /= s * s
        t["map"] = (time.perf_counter() - t0) * 1e3
        return ImageOutcome(float(raw.max()) if raw.size else 0.0, raw.astype(np.float32),
                            decisions, masks, obj_boxes, area, t, image_prompts)

    # ------------------------------------------------------------------ state
    def save(self, folder: Path) -> None:
        """Write iapas_state.json: settings, the prompt set with its version, the object size."""
        if self.prompt_set is None:
            raise InspectorError("IAP-AS model is not fitted: nothing to save")
        state = {"format": STATE_FORMAT, "engine_id": self.engine_id, "version": self.version,
                 "settings": self.config.to_dict(), "prompt_set": self.prompt_set.to_json(),
                 "object_fraction": self.object_fraction, "n_references": self.n_references}
        atomic_write_bytes(Path(folder) / STATE_JSON, json.dumps(state, indent=1).encode("utf-8"))

    @classmethod
    def load(cls, folder: Path, settings: Optional[dict[str, Any]] = None,
             device: str = "cpu") -> "IapasModel":
        """Restore a saved model with its cached prompts (no LLM, no vocabulary lookup).
        Detection settings (thresholds, filter, batching, weights) may be overridden; an
        explicit `prompts` list replaces the cached one."""
        folder = Path(folder)
        try:
            state = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InspectorError(f"no fitted IAP-AS state in {folder} ({STATE_JSON} missing)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InspectorError(f"{folder / STATE_JSON} is corrupt: {exc}") from None
        if state.get("engine_id") != cls.engine_id or state.get("format") != STATE_FORMAT:
            raise InspectorError(f"{folder / STATE_JSON} is not an IAP-AS state of format {STATE_FORMAT}")
        merged = dict(state["settings"])
        merged.update({k: v for k, v in (settings or {}).items() if k not in STRUCTURAL})
        model = cls(merged, device)
        try:
            model.prompt_set = PromptSet.from_json(state["prompt_set"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InspectorError(f"{folder / STATE_JSON} has no valid prompt set ({exc}); refit") from None
        if model.config.prompts and model.config.prompts != model.prompt_set.prompts:
            model.prompt_set = build_prompt_set(model.prompt_set.object_prompt, {}, [],
                                                model.config.prompts)
        frac = state.get("object_fraction")
        model.object_fraction = None if frac is None else float(frac)
        model.n_references = int(state.get("n_references", 0))
        return model
