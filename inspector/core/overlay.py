"""Draw an inspection result over its image: heatmap, mask outline, boxes with labels."""

from __future__ import annotations

import numpy as np

from .result import InspectionResult

HEAT_MAX = 2.0  # the normalised map's colour scale: 0 = typical good, 1 = pixel threshold


def heatmap_rgb(norm_map: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) of a normalised anomaly map on the product's fixed colour scale."""
    import cv2

    scaled = np.clip(norm_map / HEAT_MAX, 0.0, 1.0)
    bgr = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def render_overlay(image: np.ndarray, result: InspectionResult, heat: bool = True,
                   outline: bool = True, boxes: bool = True, banner: bool = True) -> np.ndarray:
    """uint8 RGB copy of `image` with the result drawn on it."""
    import cv2

    out = image.copy()
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 250))
    if heat:
        alpha = np.clip(result.anomaly_map / HEAT_MAX, 0, 1)[:, :, None] * 0.6
        out = (out * (1 - alpha) + heatmap_rgb(result.anomaly_map) * alpha).astype(np.uint8)
    for x0, y0, x1, y1 in result.ignored:  # the recipe's ignore regions: greyed, not inspected
        out[y0:y1, x0:x1] = (out[y0:y1, x0:x1] * 0.55 + 40 * 0.45).astype(np.uint8)
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (235, 235, 235), 1)
    if outline and result.mask.any():
        contours, _ = cv2.findContours(result.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (255, 40, 40), thick + 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    fs = max(0.4, min(h, w) / 700)
    if boxes:
        for r in result.regions:
            x0, y0, x1, y1 = r.box
            cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (255, 220, 0), thick)
            # region_caption's "×" and "·" are not in OpenCV's Hershey fonts: the short ASCII form
            cv2.putText(out, f"{r.label} {r.score:.1f}x", (x0, max(12, y0 - 4)), font, fs,
                        (255, 220, 0), thick, cv2.LINE_AA)
    if banner:
        colour = (200, 30, 30) if result.is_ng else (30, 150, 60)
        bh = int(28 * fs / 0.5)
        cv2.rectangle(out, (0, 0), (w, bh), colour, -1)
        cv2.putText(out, f"{result.verdict}  score {result.score:.3f} / thr {result.threshold:.3f}",
                    (6, int(bh * 0.72)), font, fs * 1.1, (255, 255, 255), thick, cv2.LINE_AA)
    return out
