"""The one result type every engine returns (CLI, GUI, history and reports rely only on this)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Region:
    """One connected defect region.

    box: (x0, y0, x1, y1) in input pixels, x1/y1 exclusive.
    mask: bool array (y1-y0, x1-x0), the region's pixels inside its box.
    """

    box: tuple[int, int, int, int]
    mask: np.ndarray
    area_px: int
    label: str
    score: float  # the region's peak on the normalised map: 1.0 = the pixel threshold


def region_caption(label: str, score: float, area_px: int, long: bool = False) -> str:
    """How a region is named to a person: its peak as a multiple of the pixel threshold (so it is
    not read as the image score, which has the image threshold's units) and its area."""
    if long:
        return f"{label}: {score:.1f}× the pixel threshold, {area_px} px"
    return f"{label} {score:.1f}× · {area_px} px"


@dataclass
class InspectionResult:
    """What inspecting one image produced.

    score: image anomaly score on the product's calibrated scale (higher = more anomalous).
    anomaly_map: float32 (H, W) at input resolution, normalised by the product's good-image
        statistics so 1.0 is the pixel threshold and good images stay well below it.
    mask: bool (H, W), anomaly_map >= 1.0.
    threshold: the image threshold the verdict used; verdict is "NG" when score >= threshold,
        "RECHECK" inside the product's recheck band around it (borderline; not NG: `is_ng` False).
    timings_ms: named stage durations in milliseconds (at least "total").
    """

    score: float
    anomaly_map: np.ndarray
    mask: np.ndarray
    regions: list[Region]
    verdict: str
    threshold: float
    engine_id: str
    engine_version: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    dropped: list[Region] = field(default_factory=list)  # candidates an engine filtered out (IAP-AS boxes), for a faint overlay
    # pixel boxes (x0, y0, x1, y1; x1, y1 exclusive) the recipe's ignore regions left out
    ignored: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def is_ng(self) -> bool:
        return self.verdict == "NG"

    @property
    def is_recheck(self) -> bool:
        return self.verdict == "RECHECK"
