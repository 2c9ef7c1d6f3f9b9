"""Parts of a product's images that are not inspected: an engineer's ignore boxes.

A fixture's clamp, a label with a date code, the background around a part, the crop's edge:
what varies from part to part without being a defect. A box is (x0, y0, x1, y1) in fractions of
the image's width and height, so one recipe fits every image size of the same view.

Ignored pixels never make an NG. Before an engine sees an image (reference or inspected) they
are painted over with the inspected part's median colour, so what lies there does not reach the
descriptors of the pixels around it either; then the raw map is flattened there to the lowest
value of the inspected part, and the image score is the map's maximum over the inspected part.
Calibration applies the same rules to the held-out good images, so the threshold is the
inspected part's.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .errors import InspectorError

KEY = "ignore_regions"  # where a recipe keeps them (with the engine settings; engines ignore it)
MAX_REGIONS = 16
MIN_INSPECTED = 0.05  # at least this share of the image stays inspected

Box = tuple[float, float, float, float]


def parse_box(text: str) -> Box:
    """'x0,y0,x1,y1' (fractions of the width and height, 0-1) -> a checked box."""
    parts = [p.strip() for p in str(text).replace(";", ",").split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4:
        raise InspectorError(f"ignore region '{text}' is not four numbers — give x0,y0,x1,y1 as fractions "
                             "of the image's width and height, e.g. 0,0,0.1,1 for the left tenth")
    return check_regions([values])[0]


def check_regions(value: Any) -> list[Box]:
    """A recipe's regions, checked: a list of up to MAX_REGIONS boxes with 0 <= x0 < x1 <= 1 and
    0 <= y0 < y1 <= 1 that leave at least MIN_INSPECTED of the image inspected."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or len(value) > MAX_REGIONS:
        raise InspectorError(f"ignore regions must be a list of at most {MAX_REGIONS} boxes [x0, y0, x1, y1] "
                             "— nothing was changed")
    boxes = []
    for box in value:
        try:
            x0, y0, x1, y1 = (float(v) for v in box)
        except (TypeError, ValueError):
            raise InspectorError(f"ignore region {box!r} is not four numbers [x0, y0, x1, y1] — "
                                 "nothing was changed") from None
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or \
                not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise InspectorError(f"ignore region {x0:g},{y0:g},{x1:g},{y1:g} is not inside the image: use "
                                 "fractions with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 — nothing was changed")
        boxes.append((x0, y0, x1, y1))
    if boxes and inspected_share(boxes) < MIN_INSPECTED:
        raise InspectorError(f"these ignore regions leave less than {MIN_INSPECTED:.0%} of the image inspected "
                             "— make them smaller; nothing was changed")
    return boxes


def ignored_mask(boxes: Sequence[Box], hw: tuple[int, int]) -> np.ndarray:
    """bool (h, w): True on ignored pixels (a pixel any box touches)."""
    mask = np.zeros(hw, bool)
    for c0, r0, c1, r1 in pixel_boxes(boxes, hw):
        mask[r0:r1, c0:c1] = True
    return mask


def pixel_boxes(boxes: Sequence[Box], hw: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) pixel boxes (x1, y1 exclusive) of the ignored boxes in an image of `hw`."""
    h, w = hw
    out = []
    for x0, y0, x1, y1 in boxes:  # (the 1e-6: 0.56 * 200 is 112.00000000000001, not a 113th column)
        c0, c1 = int(math.floor(x0 * w + 1e-6)), int(math.ceil(x1 * w - 1e-6))
        r0, r1 = int(math.floor(y0 * h + 1e-6)), int(math.ceil(y1 * h - 1e-6))
        out.append((c0, r0, max(c1, c0 + 1), max(r1, r0 + 1)))
    return out


def inspected_share(boxes: Sequence[Box]) -> float:
    """Share of the image the boxes leave inspected (on a 200 x 200 raster)."""
    return 1.0 - float(ignored_mask(boxes, (200, 200)).mean())


def blank_regions(image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """A copy of `image` (uint8 (H, W[, C])) with the ignored pixels set to the median colour of
    the inspected ones; `image` itself when there are no boxes."""
    if not boxes:
        return image
    h, w = image.shape[:2]
    ignored = ignored_mask(boxes, (h, w))
    if ignored.all():
        return image
    step = max(1, int(math.sqrt(h * w / 20000)))  # a sample is enough for a median (1 ms, not 15)
    kept = image[::step, ::step][~ignored[::step, ::step]]
    if len(kept) == 0:
        kept = image[~ignored]
    colour = np.median(kept, axis=0).astype(image.dtype)
    out = image.copy()
    for c0, r0, c1, r1 in pixel_boxes(boxes, (h, w)):
        out[r0:r1, c0:c1] = colour
    return out


def apply_regions(score: float, raw_map: np.ndarray, boxes: Sequence[Box]) -> tuple[float, np.ndarray]:
    """(image score, raw map) with the boxes ignored; unchanged without boxes."""
    if not boxes:
        return score, raw_map
    ignored = ignored_mask(boxes, raw_map.shape[:2])
    if ignored.all():  # an image too small for the inspected part to hold a pixel
        return score, raw_map
    inside = raw_map[~ignored]
    out = raw_map.copy()
    out[ignored] = inside.min()
    return float(inside.max()), out


def describe(boxes: Sequence[Box]) -> str:
    """'none' or '2 regions, 14 % of the image ignored'."""
    if not boxes:
        return "none"
    share = 1.0 - inspected_share(boxes)
    return f"{len(boxes)} region{'s' if len(boxes) != 1 else ''}, {share:.0%} of the image ignored"
