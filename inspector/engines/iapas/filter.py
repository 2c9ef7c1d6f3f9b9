"""The size and object filter (seed 002's key step): what is left after it is a defect candidate.

In order: a box whose phrase names the object itself is the object; a box larger than
`max_box_ratio` of the object is the object (or most of it); then non-maximum suppression
and a top-K. Every box gets a Decision saying kept or dropped and why, so the Inspect tab
can show the dropped boxes faintly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .detect import Box
from .prompts import names_object

NAMES_OBJECT = "names the object"
TOO_LARGE = "larger than {ratio:.0%} of the object"
SUPPRESSED = "overlaps a stronger box (IoU {iou:.2f})"
BEYOND_TOP_K = "beyond the top {k}"


@dataclass
class Decision:
    box: Box
    kept: bool
    reason: str = ""  # why it was dropped ("" when kept)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def object_area(object_boxes: Sequence[Box], image_shape: tuple[int, ...],
                reference_fraction: Optional[float] = None) -> float:
    """Area of the object in pixels: from the references' object share of the image when
    known, else the strongest object box, else the whole image (a texture or a close-up)."""
    full = float(image_shape[0] * image_shape[1])
    if reference_fraction is not None:
        return reference_fraction * full
    if object_boxes:
        best = max(object_boxes, key=lambda b: b.score)
        if best.area > 0:
            return best.area
    return full


def filter_boxes(boxes: Sequence[Box], obj_area: float, object_name: str, max_box_ratio: float = 0.8,
                 nms_iou: float = 0.5, top_k: int = 10) -> list[Decision]:
    """Decisions for `boxes`, strongest first."""
    decisions: list[Decision] = []
    candidates: list[Decision] = []
    for b in sorted(boxes, key=lambda b: -b.score):
        if names_object(b.phrase, object_name) or names_object(b.prompt, object_name):
            decisions.append(Decision(b, False, NAMES_OBJECT))
        elif b.area > max_box_ratio * obj_area:
            decisions.append(Decision(b, False, TOO_LARGE.format(ratio=max_box_ratio)))
        elif b.area <= 0:
            decisions.append(Decision(b, False, "empty box"))
        else:
            candidates.append(Decision(b, True))
    kept: list[Decision] = []
    for d in candidates:
        overlaps = [iou(d.box.xyxy, k.box.xyxy) for k in kept]
        worst = max(overlaps, default=0.0)
        if worst > nms_iou:
            d.kept, d.reason = False, SUPPRESSED.format(iou=worst)
        elif len(kept) >= top_k:
            d.kept, d.reason = False, BEYOND_TOP_K.format(k=top_k)
        else:
            kept.append(d)
        decisions.append(d)
    decisions.sort(key=lambda d: (not d.kept, -d.box.score))
    return decisions


def reference_object_fraction(fractions: Sequence[float]) -> Optional[float]:
    """The object's share of the image over the references (median), None when there are none."""
    return float(np.median(fractions)) if len(fractions) else None
