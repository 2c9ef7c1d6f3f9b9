"""What to draw over an image, prepared off the GUI thread (numpy/cv2 only, no Qt).

From a fresh result: the heatmap on the product's fixed scale (same colours and alpha as
`core.overlay.render_overlay`), the mask outline and the region boxes with labels. From a
history record: the outline of the stored region masks and the boxes (no heatmap is stored).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..core.overlay import HEAT_MAX, heatmap_rgb
from ..core.result import InspectionResult, region_caption


@dataclass
class BoxLabel:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (x1/y1 exclusive), image pixels
    text: str


@dataclass
class OverlayData:
    width: int
    height: int
    heat_rgba: Optional[np.ndarray] = None  # uint8 (H, W, 4); alpha grows with the anomaly
    outlines: list[np.ndarray] = field(default_factory=list)  # int32 (N, 2) x,y polygons
    boxes: list[BoxLabel] = field(default_factory=list)
    dropped: list[BoxLabel] = field(default_factory=list)  # boxes an engine filtered out (IAP-AS), drawn faintly
    ignored: list[BoxLabel] = field(default_factory=list)  # the recipe's ignore regions: not inspected


LABELLED = 5  # regions with a text label (the strongest); the others get a box only


def heat_rgba(norm_map: np.ndarray) -> np.ndarray:
    """uint8 RGBA (H, W, 4) of a normalised anomaly map; alpha 0 where the map is 0."""
    rgb = heatmap_rgb(norm_map)
    alpha = (np.clip(norm_map / HEAT_MAX, 0.0, 1.0) * (0.6 * 255)).astype(np.uint8)
    return np.ascontiguousarray(np.dstack([rgb, alpha]))


def _contours(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> list[np.ndarray]:
    import cv2

    found, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE,
                                offset=offset)
    return [c.reshape(-1, 2).astype(np.int32) for c in found if len(c) >= 2]


def overlay_from_result(result: InspectionResult) -> OverlayData:
    h, w = result.anomaly_map.shape
    return OverlayData(width=w, height=h, heat_rgba=heat_rgba(result.anomaly_map),
                       outlines=_contours(result.mask) if result.mask.any() else [],
                       boxes=[BoxLabel(tuple(int(v) for v in r.box),
                                       region_caption(r.label, r.score, r.area_px) if i < LABELLED else "")
                              for i, r in enumerate(result.regions)],
                       dropped=[BoxLabel(tuple(int(v) for v in r.box), r.label) for r in result.dropped],
                       ignored=[BoxLabel(b, "not inspected") for b in result.ignored])


def overlay_from_record(record, image_shape: tuple[int, int], root) -> OverlayData:  # noqa: ANN001
    """Outlines from the stored region masks (files under workspace `root`) and boxes."""
    import cv2

    h, w = image_shape
    data = OverlayData(width=w, height=h)
    for i, reg in enumerate(sorted(record.regions, key=lambda r: -r.score)):
        x0, y0, x1, y1 = reg.box
        text = region_caption(reg.label, reg.score, reg.area_px) if i < LABELLED else ""
        data.boxes.append(BoxLabel((x0, y0, x1, y1), text))
        mask = None
        if reg.mask_path:
            mask = cv2.imread(str(root / reg.mask_path), cv2.IMREAD_GRAYSCALE)
        if mask is None or mask.shape != (y1 - y0, x1 - x0):
            mask = np.ones((max(1, y1 - y0), max(1, x1 - x0)), np.uint8)
        data.outlines.extend(_contours(mask > 0, (x0, y0)))
    return data
