"""Shape defects of the part itself: dents (a height field rendered as shading) and missing
material (a chipped edge showing the background, or a gap in a texture showing the backing)."""

from __future__ import annotations

import math

import numpy as np

from .shapes import blob_field, box_around, box_grid, crop_f32, luma, pick_centre


def dent(img, fg, rng, s, scale, ctx):
    """A smooth dent or bump: Lambertian shading of its slopes under a random light, plus the
    ambient occlusion of its hollow, over the part's own texture."""
    r = max(3.0, rng.uniform(0.04, 0.09) * s * scale)
    cx, cy = pick_centre(fg, 0.7 * r, rng)
    box = box_around(cx, cy, 1.7 * r, img.shape)
    yy, xx = box_grid(box)
    a, ratio = rng.uniform(0, np.pi), rng.uniform(0.45, 1.0)
    dx, dy = xx - cx, yy - cy
    u, v = dx * math.cos(a) + dy * math.sin(a), (-dx * math.sin(a) + dy * math.cos(a)) / ratio
    depth = np.exp(-2.0 * (u * u + v * v) / (r * r)).astype(np.float32)  # 1 at the centre
    gy, gx = np.gradient(depth)
    gx, gy = gx * r, gy * r  # slope per radius: same look at every size
    light = rng.uniform(0, 2 * np.pi)
    bump = int(rng.choice([-1, 1]))  # -1: dent (hollow), +1: bump
    k, ao = rng.uniform(0.35, 0.6), rng.uniform(0.08, 0.2)
    shade = bump * k * (gx * math.cos(light) + gy * math.sin(light)) - ao * depth * (bump < 0)
    roi = crop_f32(img, box)
    lum = float(luma(roi).mean())
    target = roi * (1 + shade[..., None]) + 255 * 0.25 * np.maximum(shade, 0)[..., None] ** 2 \
        + (18 if lum < 60 else 0) * np.abs(shade)[..., None]  # dark parts: show it as a sheen
    alpha = (depth > 0.02).astype(np.float32)
    return box, alpha, target.astype(np.float32), dict(
        center=[cx, cy], radius_px=r, aspect=ratio, angle_deg=math.degrees(a),
        light_deg=math.degrees(light), style="dent" if bump < 0 else "bump", slope_gain=k, occlusion=ao)


def _edge_point(fg, rng):
    """A random (x, y) on the foreground's edge, or None when the foreground has no edge."""
    import cv2

    if fg.all():
        return None
    inner = cv2.erode(fg.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    edge = np.flatnonzero(fg.ravel() & ~inner.astype(bool).ravel())
    if edge.size == 0:
        return None
    k = int(edge[rng.integers(edge.size)])
    return k % fg.shape[1], k // fg.shape[1]


def missing(img, fg, rng, s, scale, ctx):
    """Missing material. Objects: a chip out of the part's edge, filled with the background
    continued inward (inpainting from background pixels only). Textures: a torn gap showing
    the dark backing, with a shadowed rim."""
    import cv2

    r = max(3.0, rng.uniform(0.04, 0.08) * s * scale)
    at = None if ctx.texture else _edge_point(fg, rng)
    if at is not None:
        cx, cy = at
        box = box_around(cx, cy, 1.5 * r, img.shape)
        y0, y1, x0, x1 = box
        part = fg[y0:y1, x0:x1]
        if (~part).sum() >= 8:
            chip = (blob_field(box, cx, cy, r, rng, rough=0.4) > 0) & part
            roi8 = np.ascontiguousarray(img[y0:y1, x0:x1])
            # inpaint every part pixel of the box, so only background pixels are sources
            hole = cv2.dilate(part.astype(np.uint8), np.ones((3, 3), np.uint8))
            fill = cv2.inpaint(roi8, hole, 3, cv2.INPAINT_TELEA).astype(np.float32)
            bg = roi8[~hole.astype(bool)].astype(np.float32)
            spread = float(bg.std(axis=0).mean()) if len(bg) > 4 else 2.0
            fill += rng.normal(0, min(spread, 12.0), fill.shape[:2])[..., None]
            alpha = cv2.GaussianBlur(chip.astype(np.float32), (0, 0), 0.6) * part
            return box, alpha, fill, dict(center=[cx, cy], radius_px=r, style="chipped edge",
                                          background_spread=spread)
    r *= 1.3
    cx, cy = pick_centre(fg, 0.6 * r, rng)
    box = box_around(cx, cy, 1.5 * r, img.shape)
    field = blob_field(box, cx, cy, r, rng, rough=0.6)
    px = 1.0 / r
    inside = np.clip(field / px + 0.5, 0, 1)
    rim = np.clip(1 - np.abs(field + 0.1) / 0.12, 0, 1) * (1 - inside)
    roi = crop_f32(img, box)
    dark = float(luma(roi).mean()) >= 60
    backing = rng.uniform(5, 35) if dark else rng.uniform(170, 225)
    target = np.where(inside[..., None] > 0, backing + rng.normal(0, 3, roi.shape[:2])[..., None],
                      roi * rng.uniform(0.45, 0.7))
    return box, np.maximum(inside, 0.8 * rim).astype(np.float32), target.astype(np.float32), dict(
        center=[cx, cy], radius_px=r, style="gap", backing=backing)
