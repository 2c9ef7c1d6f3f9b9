"""NSA-style defects: a patch from another reference (or elsewhere on this one), re-scaled,
turned and re-contrasted, blended in with Poisson image editing (cv2.seamlessClone).

NORMAL_CLONE keeps the patch's own gradients (objects: a foreign piece looks inserted);
MIXED_CLONE keeps the stronger of the two gradients at each pixel, which is what textures
need (NORMAL_CLONE smears a texture's structure flat).
"""

from __future__ import annotations

import math

import numpy as np

from .shapes import blob_field, box_around, pick_centre

MODES = ("auto", "normal", "mixed")


def _source(img, fg, rng, ctx):
    """(source image, its foreground, label) — another reference when there is one."""
    if ctx.sources and rng.random() < 0.85:
        k = int(rng.integers(len(ctx.sources)))
        src, src_fg = ctx.sources[k]
        if src.shape[2:] == img.shape[2:]:
            return src, (np.ones(src.shape[:2], bool) if src_fg is None else src_fg), f"reference:{k}"
    return img, fg, "self"


def poisson_patch(img, fg, rng, s, scale, ctx):
    import cv2

    r = max(3.0, rng.uniform(0.05, 0.1) * s * scale)
    cx, cy = pick_centre(fg, 0.5 * r, rng)
    box = box_around(cx, cy, 1.3 * r + 3, img.shape)
    y0, y1, x0, x1 = box
    bh, bw = y1 - y0, x1 - x0
    clone = (blob_field(box, cx, cy, r, rng, rough=0.25) > 0) & fg[y0:y1, x0:x1]
    clone[:2], clone[-2:], clone[:, :2], clone[:, -2:] = False, False, False, False  # seamlessClone needs a frame
    src, src_fg, label = _source(img, fg, rng, ctx)
    zoom = rng.uniform(0.7, 1.4)
    if ctx.texture:  # textures: quarter turns and flips keep the weave's look, break its order
        ang = float(rng.choice([0.0, 90.0, 180.0, 270.0])) + rng.uniform(-20, 20)
    else:
        ang = rng.uniform(-35, 35)
    reach = zoom * math.hypot(bh, bw) / 2
    sx, sy = pick_centre(src_fg, reach, rng)
    if label == "self":  # from elsewhere on this image: at least a patch's width away
        for _ in range(10):
            if math.hypot(sx - cx, sy - cy) > 1.5 * r:
                break
            sx, sy = pick_centre(src_fg, reach, rng)
    c, sn = math.cos(math.radians(ang)) * zoom, math.sin(math.radians(ang)) * zoom
    lx, ly = cx - x0, cy - y0
    m = np.array([[c, -sn, sx - c * lx + sn * ly], [sn, c, sy - sn * lx - c * ly]], np.float64)
    patch = cv2.warpAffine(src, m, (bw, bh), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    gain = rng.uniform(1.3, 2.2) if rng.random() < 0.6 else rng.uniform(0.3, 0.6)
    mean = patch.reshape(-1, 3).mean(0)
    patch = np.clip(mean + (patch - mean) * gain + rng.uniform(-40, 40, 3), 0, 255).astype(np.uint8)
    mode = str(ctx.params.get("poisson_mode", "auto"))
    mixed = ctx.texture if mode == "auto" else mode == "mixed"
    roi = np.ascontiguousarray(img[y0:y1, x0:x1])
    if clone.sum() < 4 or bh < 8 or bw < 8:
        return box, np.zeros((bh, bw), np.float32), roi.astype(np.float32), {}
    m8 = clone.astype(np.uint8) * 255
    bx, by, bwm, bhm = cv2.boundingRect(m8)
    # seamlessClone centres the mask's bounding box on `p`: this p maps the patch onto itself
    p = (bx + bwm // 2, by + bhm // 2)
    blended = cv2.seamlessClone(patch, roi, m8, p, cv2.MIXED_CLONE if mixed else cv2.NORMAL_CLONE)
    blended = blended.astype(np.float32)
    change = np.abs(blended - roi).max(axis=2)[clone].mean()
    lift = 0.0
    if change < 12:  # a plain surface gives the patch nothing to show: lift or sink it, feathered
        lift = float(rng.choice([-1, 1])) * rng.uniform(18, 35)
        feather = cv2.GaussianBlur(clone.astype(np.float32), (0, 0), max(1.0, r / 5)) * clone
        blended = blended + lift * np.clip(feather * 2, 0, 1)[..., None]
    return box, clone.astype(np.float32), blended, dict(
        center=[cx, cy], radius_px=r, source=label, source_center=[sx, sy], zoom=zoom, angle_deg=ang,
        gain=gain, clone="mixed" if mixed else "normal", lift=lift)
