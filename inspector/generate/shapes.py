"""Geometry helpers shared by the rule-based defect makers: placement, boxes, soft shapes.

A box is (y0, y1, x0, x1) in pixels; fields and strokes are float32 arrays of the box's size.
"""

from __future__ import annotations

import math

import numpy as np

from .masks import smooth_noise

Box = tuple[int, int, int, int]  # y0, y1, x0, x1


def pick_centre(fg: np.ndarray, margin: float, rng: np.random.Generator) -> tuple[int, int]:
    """A random (x, y) inside the foreground, at least `margin` px from its edge when possible."""
    import cv2

    dist = cv2.distanceTransform(np.pad(fg.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    ok = dist >= min(margin, 0.5 * float(dist.max()))
    idx = np.flatnonzero(ok)
    k = int(idx[rng.integers(idx.size)])
    return k % fg.shape[1], k // fg.shape[1]


def box_around(cx: float, cy: float, r: float, shape: tuple[int, ...]) -> Box:
    h, w = shape[:2]
    return (max(0, int(cy - r)), min(h, int(math.ceil(cy + r)) + 1),
            max(0, int(cx - r)), min(w, int(math.ceil(cx + r)) + 1))


def box_grid(box: Box) -> tuple[np.ndarray, np.ndarray]:
    y0, y1, x0, x1 = box
    return np.mgrid[y0:y1, x0:x1].astype(np.float32)


def luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def crop_f32(image: np.ndarray, box: Box) -> np.ndarray:
    y0, y1, x0, x1 = box
    return image[y0:y1, x0:x1].astype(np.float32)


def blob_field(box: Box, cx: float, cy: float, r: float, rng: np.random.Generator,
          rough: float) -> np.ndarray:
    """Signed field (> 0 inside) of an irregular ellipse of radius ~r: 1 at the centre."""
    yy, xx = box_grid(box)
    a = rng.uniform(0, np.pi)
    ratio = rng.uniform(0.55, 1.0)
    dx, dy = xx - cx, yy - cy
    u, v = dx * math.cos(a) + dy * math.sin(a), (-dx * math.sin(a) + dy * math.cos(a)) / ratio
    d = np.sqrt(u * u + v * v) / max(r, 1e-3)
    noise = smooth_noise(d.shape, (4, 4), rng)
    return 1.0 - d + rough * noise


def stroke(box: Box, pts: np.ndarray, width: float, taper: bool) -> np.ndarray:
    """Anti-aliased stroke along (N, 2) x/y points, as float32 coverage in the box."""
    import cv2

    y0, y1, x0, x1 = box
    canvas = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shift = 4
    p = np.round((pts - [x0, y0]) * (1 << shift)).astype(np.int32)
    n = len(p) - 1
    for k in range(n):
        level = math.sin(math.pi * (k + 0.5) / n) ** 0.5 if taper else 1.0
        th = max(1, int(round(width * (0.6 + 0.4 * level))))
        cv2.line(canvas, tuple(map(int, p[k])), tuple(map(int, p[k + 1])), int(255 * level), th,
                 cv2.LINE_AA, shift)
    return cv2.GaussianBlur(canvas.astype(np.float32) / 255.0, (0, 0), 0.5)


def mark_sign(lum: float, rng: np.random.Generator) -> int:
    """Dark marks on bright surfaces, bright marks on dark ones, either in between."""
    return -1 if lum > 165 else 1 if lum < 80 else int(rng.choice([-1, 1]))
