"""The engine contract: a ScoreModel produces raw scores and maps; everything else is shared.

Each engine implements ScoreModel (fit on good references, score images, save/load its
fitted state). Calibration, thresholds, masks, regions and timing are done once for all
engines in `inspector.engines.detector`, so every engine returns the same InspectionResult.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..core.progress import CancelFn, ProgressFn


@dataclass
class Requirements:
    """What an engine needs before it can fit or predict."""

    min_references: int = 1
    weights: list[str] = field(default_factory=list)  # model ids from models/manifest.toml
    gpu: str = "optional"  # "no" | "optional" | "required"
    packages: list[str] = field(default_factory=list)


@dataclass
class Availability:
    ok: bool
    reason: str = ""  # why not, and the fix (e.g. "run `inspector models import PATH`")


class ScoreModel(ABC):
    """Raw anomaly scorer of one engine.

    Images are uint8 RGB arrays (H, W, 3) as returned by `inspector.core.image_io.load_image`.
    """

    engine_id: str = ""
    version: str = "0"

    def __init__(self, settings: Optional[dict[str, Any]] = None, device: str = "cpu") -> None:
        self.settings = dict(settings or {})
        self.device = device

    @abstractmethod
    def fit(self, references: Sequence[np.ndarray], progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelFn] = None) -> None:
        """Learn the product's normal appearance from good images."""

    @abstractmethod
    def score(self, images: Sequence[np.ndarray]) -> list[tuple[float, np.ndarray]]:
        """Raw (image_score, anomaly_map) per image; map is float32 (H, W) at input size."""

    @abstractmethod
    def save(self, folder: Path) -> None:
        """Write the fitted state into `folder` (created by the caller; write files atomically)."""

    @classmethod
    @abstractmethod
    def load(cls, folder: Path, settings: Optional[dict[str, Any]] = None,
             device: str = "cpu") -> "ScoreModel":
        """Restore a model saved by `save`."""
