"""A fitted, calibrated detector: ScoreModel + Calibration -> InspectionResult.

This is the one place where raw engine output becomes a verdict, a normalised map,
a mask and regions, so every engine behaves the same in the CLI, GUI and history.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..core.ignore_regions import pixel_boxes
from ..core.result import InspectionResult, Region
from .base import ScoreModel

MIN_REGION_FRACTION = 2e-5  # regions smaller than this share of the image are noise


@dataclass
class Calibration:
    """Per-product calibration from good images, versioned with the fitted state.

    threshold: image threshold (raw score units); NG when score >= threshold.
    map_lo, map_hi: raw map values mapped to 0 and 1 in the normalised map; map_hi is the
        pixel threshold (a high quantile of held-out good pixels), so good images look calm.
    good_scores: held-out good image scores (for the histogram), one per reference when held out.
    suspect_references: indices (in reference order) of references whose held-out score is far
        above the others; they are left out of the threshold and shown to the engineer to check.
    fixed_score: the threshold is a score the engineer typed, not one set from `target_frr`; a
        refit with the same engine and engine version keeps it (scores mean the same there).
    note: what a fit did with the threshold that the engineer should know (else "").
    """

    threshold: float
    map_lo: float
    map_hi: float
    target_frr: float = 0.01
    good_scores: list[float] = field(default_factory=list)
    method: str = "holdout"
    synthetic_recall: Optional[float] = None
    suspect_references: list[int] = field(default_factory=list)
    fixed_score: bool = False
    note: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Calibration":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def regions_from_mask(mask: np.ndarray, norm_map: np.ndarray, label: str) -> list[Region]:
    """Connected components (8-connectivity) of `mask` as Regions, largest score first."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    min_area = max(4, int(MIN_REGION_FRACTION * mask.size))
    regions = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < min_area:
            continue
        sub = labels[y:y + h, x:x + w] == i
        score = float(norm_map[y:y + h, x:x + w][sub].max())
        regions.append(Region((x, y, x + w, y + h), sub, area, label, score))
    regions.sort(key=lambda r: -r.score)
    return regions


RECHECK = "RECHECK"  # the third verdict: a borderline part for a person to look at (not NG)


def in_recheck_band(score: float, threshold: float, band: float) -> bool:
    """A score within ± `band` (a fraction) of the threshold is borderline (band 0: never)."""
    return band > 0 and abs(score - threshold) < band * abs(threshold)


class Detector:
    """Calibrated detector of one product. Thread-safe for predict if the model is.

    recheck_band: a fraction of the threshold (0 = off); a score within ± that much of the
    threshold gets the verdict RECHECK instead of OK or NG (regions as the plain verdict's).
    """

    def __init__(self, model: ScoreModel, calibration: Calibration, region_label: str = "anomaly") -> None:
        self.model = model
        self.calibration = calibration
        self.region_label = region_label
        self.recheck_band = 0.0

    def verdict(self, score: float) -> str:
        """OK / NG / RECHECK for an image score: the one place a verdict is decided."""
        thr = self.calibration.threshold
        if in_recheck_band(score, thr, self.recheck_band):
            return RECHECK
        return "NG" if score >= thr else "OK"

    @property
    def threshold(self) -> float:
        return self.calibration.threshold

    def normalise(self, raw_map: np.ndarray) -> np.ndarray:
        c = self.calibration
        return ((raw_map - c.map_lo) / max(c.map_hi - c.map_lo, 1e-12)).astype(np.float32)

    def _result(self, score: float, raw_map: np.ndarray, score_ms: float) -> InspectionResult:
        t0 = time.perf_counter()
        norm = self.normalise(raw_map)
        ng = score >= self.calibration.threshold
        mask = norm >= 1.0 if ng else np.zeros(norm.shape, bool)
        regions = regions_from_mask(mask, norm, self.region_label) if ng else []
        if ng and not regions:  # NG by image score but no pixel over the pixel threshold
            y, x = np.unravel_index(int(np.argmax(norm)), norm.shape)
            mask = norm >= min(1.0, 0.5 * float(norm[y, x]))
            regions = regions_from_mask(mask, norm, self.region_label)
        post_ms = (time.perf_counter() - t0) * 1e3
        boxes = getattr(self.model, "ignored_boxes", None)  # an IgnoringModel's recipe boxes
        return InspectionResult(score=float(score), anomaly_map=norm, mask=mask, regions=regions,
                                verdict=self.verdict(float(score)), threshold=self.calibration.threshold,
                                engine_id=self.model.engine_id, engine_version=self.model.version,
                                timings_ms={"score": score_ms, "post": post_ms, "total": score_ms + post_ms},
                                ignored=pixel_boxes(boxes, norm.shape) if boxes else [])

    def predict(self, image: np.ndarray) -> InspectionResult:
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[np.ndarray]) -> list[InspectionResult]:
        t0 = time.perf_counter()
        raw = self.model.score(images)
        per_image_ms = (time.perf_counter() - t0) * 1e3 / max(len(images), 1)
        return [self._result(s, m, per_image_ms) for s, m in raw]
