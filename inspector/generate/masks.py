"""Masks and noise for synthetic defects: Perlin/smooth noise (DRAEM-style) and a cheap
object-vs-background estimate, so defects land on the part, not the table."""

from __future__ import annotations

import math

import numpy as np


def perlin_noise(shape: tuple[int, int], res: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """2-D Perlin noise as in DRAEM: float32 (H, W), roughly in [-0.7, 0.7], `res` cells (y, x)."""
    h, w = shape
    ry, rx = max(1, int(res[0])), max(1, int(res[1]))
    ang = rng.uniform(0, 2 * np.pi, (ry + 1, rx + 1))
    gy, gx = np.sin(ang), np.cos(ang)
    ys, xs = np.linspace(0, ry, h, endpoint=False), np.linspace(0, rx, w, endpoint=False)
    yi, xi = ys.astype(int)[:, None], xs.astype(int)[None, :]
    fy, fx = ys[:, None] - yi, xs[None, :] - xi

    def corner(oy: int, ox: int) -> np.ndarray:
        return gy[yi + oy, xi + ox] * (fy - oy) + gx[yi + oy, xi + ox] * (fx - ox)

    uy, ux = (t * t * t * (t * (t * 6 - 15) + 10) for t in (fy, fx))
    top = corner(0, 0) * (1 - ux) + corner(0, 1) * ux
    bottom = corner(1, 0) * (1 - ux) + corner(1, 1) * ux
    return ((top * (1 - uy) + bottom * uy) * math.sqrt(2)).astype(np.float32)


def smooth_noise(shape: tuple[int, int], res: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Perlin noise computed at ~24 px per cell and resized (it is smooth, so nothing is lost)."""
    import cv2

    h, w = shape
    f = min(1.0, max(32, 24 * max(res)) / max(h, w))
    small = perlin_noise((max(2, round(h * f)), max(2, round(w * f))), res, rng)
    return small if f == 1.0 else cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _border_model(lab: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Background colour at every pixel: a quadratic in (x, y) fitted to the border, robustly."""
    sh, sw = lab.shape[:2]
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    yy, xx = yy / sh - 0.5, xx / sw - 0.5
    basis = np.stack([np.ones_like(xx), xx, yy, xx * xx, yy * yy, xx * yy], -1)
    a, y = basis[ring], lab[ring]
    keep = np.ones(len(a), bool)
    for _ in range(2):  # refit without the worst quarter (things lying on the border)
        coef = np.linalg.lstsq(a[keep], y[keep], rcond=None)[0]
        res = np.linalg.norm(a @ coef - y, axis=1)
        keep = res <= np.quantile(res, 0.75)
    return basis @ coef


def foreground_mask(image: np.ndarray) -> np.ndarray:
    """Cheap object-vs-background estimate, bool (H, W).

    The border is taken as background: a smooth colour model (lighting gradients allowed) is
    fitted to it, and pixels far from it in colour (Lab, lightness half-weighted, so shading
    counts less than hue), beyond both Otsu's threshold and the border's own spread, are
    object. Textures (the centre looks like the border) and failed estimates give all True.
    """
    import cv2

    h, w = image.shape[:2]
    f = min(1.0, 256 / max(h, w))
    small = cv2.resize(image, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA) \
        if f < 1 else image
    lab = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32), (0, 0), 1.5)
    lab[..., 0] *= 0.5
    sh, sw = lab.shape[:2]
    b = max(2, round(0.04 * min(sh, sw)))
    ring = np.zeros((sh, sw), bool)
    ring[:b], ring[-b:], ring[:, :b], ring[:, -b:] = True, True, True, True
    dist = np.linalg.norm(lab - _border_model(lab, ring), axis=2)
    spread = float(np.quantile(dist[ring], 0.9))
    ref = np.median(lab[ring], axis=0)
    centre = lab[sh // 4: sh - sh // 4, sw // 4: sw - sw // 4].reshape(-1, 3)
    border_std = float(lab[ring].std(axis=0).mean()) + 1e-3
    if (np.linalg.norm(np.median(centre, axis=0) - ref) < max(5.0, 1.5 * border_std)
            and 0.5 < centre.std(axis=0).mean() / border_std < 2.0):
        return np.ones((h, w), bool)  # a texture: the centre looks like the border
    top = max(float(dist.max()), 1e-6)
    d8 = np.clip(dist / top * 255, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(d8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    thr = max(otsu / 255 * top, 2.0 * spread, 4.0)
    fg = (dist > thr).astype(np.uint8)
    k = max(3, round(0.015 * min(sh, sw)) | 1)
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    fg = cv2.morphologyEx(cv2.morphologyEx(fg, cv2.MORPH_OPEN, ker), cv2.MORPH_CLOSE, ker)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= 0.005 * sh * sw
    fg = keep[labels]
    # fill small enclosed holes (dark chips, specks); large ones, like a washer's bore, stay
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~fg).astype(np.uint8), connectivity=4)
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    inner = (x > 0) & (y > 0) & (x + bw < sw) & (y + bh < sh) & (area < 0.02 * sh * sw)
    inner[0] = False
    fg |= inner[labels]
    if fg.mean() < 0.01:
        return np.ones((h, w), bool)
    if f < 1:
        fg = cv2.resize(fg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return fg
