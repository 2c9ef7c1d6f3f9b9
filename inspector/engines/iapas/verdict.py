"""IAP-AS outcomes as the common InspectionResult: calibration without good images, region
labels from the prompt that found each region, the dropped boxes, and stage timings."""

from __future__ import annotations

import time
from typing import Optional, Sequence

import numpy as np

from ...core.result import InspectionResult, Region
from ..detector import Calibration, Detector
from .config import IapasSettings
from .model import IapasModel, ImageOutcome

UNCALIBRATED = "uncalibrated"
DROPPED_PREFIX = "dropped: "


def default_calibration(settings: Optional[dict] = None, target_frr: float = 0.01) -> Calibration:
    """Calibration for a product with no good images: method "uncalibrated".

    The image threshold is `default_threshold`, else the detector's box threshold: a kept box
    that SAM turns into a mask makes the image NG. The map is shown on the same scale
    (1.0 = the threshold). Add good images and refit to set it at the false-reject target.
    """
    cfg = IapasSettings.from_dict(settings)
    t = float(cfg.default_threshold if cfg.default_threshold is not None else cfg.box_threshold)
    return Calibration(threshold=t, map_lo=0.0, map_hi=t, target_frr=target_frr, good_scores=[],
                       method=UNCALIBRATED)


def finish_calibration(calibration: Optional[Calibration], settings: Optional[dict] = None,
                       target_frr: float = 0.01) -> Calibration:
    """The calibration an IAP-AS product uses: `default_calibration` without good images; with
    them, the held-out one, except that a collapsed map scale (no good pixel was ever in a
    mask, so map_hi is map_lo + 1e-6) becomes 0 .. box_threshold: any masked pixel of an
    NG image is then in the mask, as every kept box's confidence is above the box threshold."""
    if calibration is None:
        return default_calibration(settings, target_frr)
    cfg = IapasSettings.from_dict(settings)
    if calibration.map_hi - calibration.map_lo < 1e-3:
        calibration = Calibration(**{**calibration.to_json(), "map_lo": 0.0,
                                     "map_hi": float(cfg.box_threshold)})
    return calibration


def _intersection(a: Sequence[float], b: Sequence[float]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def label_regions(regions: Sequence[Region], outcome: ImageOutcome) -> None:
    """Each region takes the prompt of the kept box that overlaps it most (the strongest on a tie)."""
    kept = outcome.kept  # strongest first
    for r in regions:
        overlaps = [_intersection(r.box, d.box.xyxy) for d in kept]
        if overlaps and max(overlaps) > 0:
            r.label = kept[int(np.argmax(overlaps))].box.prompt


def dropped_regions(outcome: ImageOutcome, shape: tuple[int, int]) -> list[Region]:
    """Every dropped box as a Region (empty mask, area 0) labelled "dropped: <prompt> — <why>"."""
    h, w = shape
    out = []
    for d in outcome.decisions:
        if d.kept:
            continue
        x0, y0, x1, y1 = d.box.xyxy
        box = (max(0, int(x0)), max(0, int(y0)), min(w, max(int(x0) + 1, int(np.ceil(x1)))),
               min(h, max(int(y0) + 1, int(np.ceil(y1)))))
        mask = np.zeros((box[3] - box[1], box[2] - box[0]), bool)
        out.append(Region(box, mask, 0, f"{DROPPED_PREFIX}{d.box.prompt} — {d.reason}", d.box.score))
    return out


class IapasDetector(Detector):
    """The common Detector with IAP-AS's extras on each result: regions labelled with their
    prompt, `result.dropped` (the filtered boxes, for a faint overlay) and per-stage timings."""

    model: IapasModel

    def predict_detailed(self, images: Sequence[np.ndarray]) -> list[tuple[InspectionResult, ImageOutcome]]:
        """(result, IAP-AS outcome with every box decision) per image."""
        t0 = time.perf_counter()
        outcomes = self.model.score_detailed(images)
        per_image_ms = (time.perf_counter() - t0) * 1e3 / max(len(images), 1)
        out = []
        for img, o in zip(images, outcomes):
            r = self._result(o.score, o.anomaly_map, per_image_ms)
            label_regions(r.regions, o)
            r.dropped = dropped_regions(o, img.shape[:2])  # type: ignore[attr-defined]
            r.timings_ms = {**{f"iapas_{k}": v for k, v in o.timings_ms.items()}, **r.timings_ms}
            out.append((r, o))
        return out

    def predict_batch(self, images: Sequence[np.ndarray]) -> list[InspectionResult]:
        return [r for r, _ in self.predict_detailed(images)]
