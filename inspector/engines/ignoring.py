"""Any engine's model with the recipe's ignore regions applied to what it scores.

Wrapping the model (not the detector) makes calibration on held-out good images and inspection
see the same scores, so the threshold is set for the part that is inspected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..core import ignore_regions
from ..core.errors import InspectorError
from ..core.progress import CancelFn, ProgressFn
from .base import ScoreModel

UNSUPPORTED = {"iapas": "IAP-AS finds each defect word's own boxes"}


class IgnoringModel(ScoreModel):
    """Delegates everything to `inner`; fit() and score() see the images with the ignored boxes
    painted over, and score() flattens the map there and takes the image score over the rest."""

    def __init__(self, inner: ScoreModel, boxes: Sequence[ignore_regions.Box]) -> None:
        self.inner = inner
        self.boxes = list(boxes)

    @property
    def ignored_boxes(self) -> list[ignore_regions.Box]:
        """The boxes (fractions) not inspected: the detector lists them with each result."""
        return self.boxes

    def __getattr__(self, name: str) -> Any:  # engine_id, version, settings, evidence, ...
        if name in ("inner", "boxes"):  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def engine_id(self) -> str:  # type: ignore[override]
        return self.inner.engine_id

    @property
    def version(self) -> str:  # type: ignore[override]
        return self.inner.version

    @property
    def settings(self) -> dict[str, Any]:  # type: ignore[override]
        return self.inner.settings

    @property
    def device(self) -> str:  # type: ignore[override]
        return self.inner.device

    def fit(self, references: Sequence[np.ndarray], progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelFn] = None) -> None:
        self.inner.fit(self._blank(references), progress=progress, cancel=cancel)

    def score(self, images: Sequence[np.ndarray]) -> list[tuple[float, np.ndarray]]:
        return [ignore_regions.apply_regions(s, m, self.boxes) for s, m in self.inner.score(self._blank(images))]

    def _blank(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [ignore_regions.blank_regions(np.asarray(im), self.boxes) for im in images]

    def save(self, folder: Path) -> None:
        self.inner.save(folder)

    @classmethod
    def load(cls, folder: Path, settings: Optional[dict[str, Any]] = None, device: str = "cpu") -> "ScoreModel":
        raise InspectorError("load the engine's own model, then wrap it with with_ignore_regions()")


def regions_for(engine_id: str, settings: Optional[dict[str, Any]]) -> list[ignore_regions.Box]:
    """The ignore regions in `settings`, checked, and refused for an engine that cannot take them."""
    boxes = ignore_regions.check_regions((settings or {}).get(ignore_regions.KEY))
    if boxes and engine_id in UNSUPPORTED:
        raise InspectorError(f"engine '{engine_id}' does not take ignore regions ({UNSUPPORTED[engine_id]}) "
                             "— clear them with `inspector products update PRODUCT --clear-ignore` or pick "
                             "another engine")
    return boxes


def with_ignore_regions(model: ScoreModel, settings: Optional[dict[str, Any]]) -> ScoreModel:
    """`model` wrapped when `settings` hold ignore regions; the model itself otherwise."""
    boxes = regions_for(model.engine_id, settings)
    return IgnoringModel(model, boxes) if boxes else model
