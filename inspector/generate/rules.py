"""Rule-based synthetic defects (no model weights): defective image + exact mask + recipe.

Each kind builds, inside a small box, a soft opacity `alpha` in [0, 1] and a target
appearance. The mask is where alpha >= MASK_ALPHA inside the foreground; alpha is zeroed
everywhere else, so no pixel outside the mask changes. Sizes are fractions of the image's
short side `s` (times `scale`), so the same recipe works from 256 to 2048 px.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .masks import smooth_noise

DEFECT_KINDS = ("scratch", "stain", "hole", "crack", "colour_spot", "cutpaste", "perlin_texture")
MASK_ALPHA = 0.2  # opacity at which a changed pixel counts as defect
MIN_MEAN_CHANGE = 8.0  # grey levels; a defect that changes its mask less than this is redrawn
ATTEMPTS = 6

Box = tuple[int, int, int, int]  # y0, y1, x0, x1


def _pick_centre(fg: np.ndarray, margin: float, rng: np.random.Generator) -> tuple[int, int]:
    """A random (x, y) inside the foreground, at least `margin` px from its edge when possible."""
    import cv2

    dist = cv2.distanceTransform(np.pad(fg.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    ok = dist >= min(margin, 0.5 * float(dist.max()))
    idx = np.flatnonzero(ok)
    k = int(idx[rng.integers(idx.size)])
    return k % fg.shape[1], k // fg.shape[1]


def _box(cx: float, cy: float, r: float, shape: tuple[int, ...]) -> Box:
    h, w = shape[:2]
    return (max(0, int(cy - r)), min(h, int(math.ceil(cy + r)) + 1),
            max(0, int(cx - r)), min(w, int(math.ceil(cx + r)) + 1))


def _grid(box: Box) -> tuple[np.ndarray, np.ndarray]:
    y0, y1, x0, x1 = box
    return np.mgrid[y0:y1, x0:x1].astype(np.float32)


def _luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _roi(image: np.ndarray, box: Box) -> np.ndarray:
    y0, y1, x0, x1 = box
    return image[y0:y1, x0:x1].astype(np.float32)


def _blob(box: Box, cx: float, cy: float, r: float, rng: np.random.Generator,
          rough: float) -> np.ndarray:
    """Signed field (> 0 inside) of an irregular ellipse of radius ~r: 1 at the centre."""
    yy, xx = _grid(box)
    a = rng.uniform(0, np.pi)
    ratio = rng.uniform(0.55, 1.0)
    dx, dy = xx - cx, yy - cy
    u, v = dx * math.cos(a) + dy * math.sin(a), (-dx * math.sin(a) + dy * math.cos(a)) / ratio
    d = np.sqrt(u * u + v * v) / max(r, 1e-3)
    noise = smooth_noise(d.shape, (4, 4), rng)
    return 1.0 - d + rough * noise


def _polyline(box: Box, pts: np.ndarray, width: float, taper: bool) -> np.ndarray:
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


def _shift_sign(lum: float, rng: np.random.Generator) -> int:
    """Dark marks on bright surfaces, bright marks on dark ones, either in between."""
    return -1 if lum > 165 else 1 if lum < 80 else int(rng.choice([-1, 1]))


def _scratch(img, fg, rng, s, scale):
    length = rng.uniform(0.12, 0.32) * s * scale
    width = max(1.2, rng.uniform(0.004, 0.009) * s * scale)
    cx, cy = _pick_centre(fg, 0.1 * length, rng)
    a0, bend = rng.uniform(0, np.pi), rng.normal(0, 1.2) / length
    t = np.linspace(-0.5, 0.5, 25) * length
    ang = a0 + bend * t
    step = length / 24
    pts = np.stack([np.cumsum(np.cos(ang)) * step, np.cumsum(np.sin(ang)) * step], 1)
    pts += [cx, cy] - pts[12]
    box = _box(cx, cy, length / 2 + 2 * width + 4, img.shape)
    strength = rng.uniform(0.5, 1.0)
    alpha = _polyline(box, pts, width, taper=True) * strength
    roi = _roi(img, box)
    sign = _shift_sign(float(_luma(roi).mean()), rng)
    delta = rng.uniform(60, 120)
    return box, alpha, roi + sign * delta, dict(
        center=[cx, cy], length_px=length, width_px=width, angle_deg=math.degrees(a0),
        strength=strength, brightness=sign * delta)


def _crack(img, fg, rng, s, scale):
    length = rng.uniform(0.1, 0.24) * s * scale
    width = max(1.2, rng.uniform(0.004, 0.008) * s * scale)
    cx, cy = _pick_centre(fg, 0.1 * length, rng)
    a0, step = rng.uniform(0, 2 * np.pi), max(1.5, 0.015 * s * scale)
    strokes = []
    for direction in (0.0, np.pi):  # grow both ways from the centre, with short branches
        p, a = np.array([cx, cy], float), a0 + direction
        pts = [p.copy()]
        for _ in range(int(length / 2 / step)):
            a += rng.normal(0, 0.45)
            a = 0.7 * a + 0.3 * (a0 + direction)  # keep the main direction
            p = p + step * np.array([math.cos(a), math.sin(a)])
            pts.append(p.copy())
            if rng.random() < 0.12:
                b, q, br = a + rng.choice([-1, 1]) * rng.uniform(0.5, 1.1), p.copy(), [p.copy()]
                for _ in range(int(rng.integers(2, 5))):
                    b += rng.normal(0, 0.4)
                    q = q + step * np.array([math.cos(b), math.sin(b)])
                    br.append(q.copy())
                strokes.append((np.array(br), 0.7))
        strokes.append((np.array(pts), 1.0))
    allpts = np.concatenate([p for p, _ in strokes])
    r = float(np.abs(allpts - [cx, cy]).max()) + 2 * width + 4
    box = _box(cx, cy, r, img.shape)
    alpha = np.zeros((box[1] - box[0], box[3] - box[2]), np.float32)
    for pts, wf in strokes:
        alpha = np.maximum(alpha, _polyline(box, pts, width * wf, taper=wf < 1))
    strength = rng.uniform(0.6, 1.0)
    darkness = rng.uniform(0.1, 0.4)
    roi = _roi(img, box)
    # a dark gap; on dark parts the broken edges catch the light instead
    target = roi * darkness if _luma(roi).mean() >= 60 else roi + rng.uniform(60, 110)
    return box, alpha * strength, target, dict(
        center=[cx, cy], length_px=length, width_px=width, strength=strength, darkness=darkness,
        branches=len(strokes) - 2)


def _stain(img, fg, rng, s, scale):
    r = rng.uniform(0.04, 0.08) * s * scale
    cx, cy = _pick_centre(fg, 0.6 * r, rng)
    box = _box(cx, cy, 1.4 * r, img.shape)
    field = _blob(box, cx, cy, r, rng, rough=0.35)
    body = np.clip(field / 0.3, 0, 1)
    rim = np.exp(-((field - 0.04) / 0.05) ** 2)  # dried stains are darker at their edge
    strength = rng.uniform(0.5, 0.9)
    alpha = np.clip(0.75 * body + 0.35 * rim, 0, 1) * (field > -0.05) * strength
    roi = _roi(img, box)
    lum = float(_luma(roi).mean())
    if lum < 70:  # on dark parts a stain shows as a light residue
        tint = rng.uniform(150, 210) * np.array([1.0, 0.95, 0.85])
        target, how = np.broadcast_to(tint, roi.shape).astype(np.float32), "residue"
    else:
        tint = np.array([[0.72, 0.58, 0.38], [0.5, 0.5, 0.5], [0.62, 0.64, 0.7]])[rng.integers(3)]
        target, how = roi * tint * rng.uniform(0.6, 0.9), "absorbing"
    return box, alpha.astype(np.float32), target, dict(
        center=[cx, cy], radius_px=r, strength=strength, style=how)


def _hole(img, fg, rng, s, scale):
    r = rng.uniform(0.02, 0.045) * s * scale
    cx, cy = _pick_centre(fg, r, rng)
    box = _box(cx, cy, 1.6 * r, img.shape)
    field = _blob(box, cx, cy, r, rng, rough=0.3)
    px = 1.0 / max(r, 1.0)  # one pixel in field units
    inside = np.clip(field / px + 0.5, 0, 1)
    rim = np.clip(1 - np.abs(field + 0.12) / 0.15, 0, 1) * (1 - inside)  # torn edge / burr
    roi = _roi(img, box)
    # what shows through: the dark backing, or the light behind a dark part (back-lit)
    through = rng.uniform(5, 30) if _luma(roi).mean() >= 60 else rng.uniform(170, 230)
    fill = through + rng.normal(0, 3, roi.shape[:2])[..., None]
    rim_gain = rng.uniform(0.45, 0.7)
    target = np.where(inside[..., None] > 0, np.broadcast_to(fill, roi.shape), roi * rim_gain)
    alpha = np.maximum(inside, 0.7 * rim)
    return box, alpha.astype(np.float32), target.astype(np.float32), dict(
        center=[cx, cy], radius_px=r, rim_gain=rim_gain, fill=through)


def _colour_spot(img, fg, rng, s, scale):
    import colorsys

    r = rng.uniform(0.015, 0.045) * s * scale
    cx, cy = _pick_centre(fg, 0.6 * r, rng)
    box = _box(cx, cy, 1.4 * r, img.shape)
    field = _blob(box, cx, cy, r, rng, rough=0.25)
    strength = rng.uniform(0.55, 0.95)
    alpha = np.clip(field / 0.2, 0, 1) * strength
    roi = _roi(img, box)
    lum = _luma(roi)
    hue = rng.uniform(0, 1)
    colour = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.6, 1.0), 1.0), np.float32)
    level = np.clip(lum.mean(), 70, 200)
    target = colour * (level * (lum + 30) / (float(lum.mean()) + 30))[..., None]  # keeps the texture
    return box, alpha.astype(np.float32), target, dict(
        center=[cx, cy], radius_px=r, strength=strength, hue=hue,
        rgb=[float(c) for c in colour * level])


def _cutpaste(img, fg, rng, s, scale):
    import cv2

    h, w = img.shape[:2]
    style = str(rng.choice(["patch", "scar"]))
    if style == "patch":
        side, aspect = rng.uniform(0.07, 0.14) * s * scale, math.exp(rng.uniform(-0.9, 0.9))
        pw, ph = side * math.sqrt(aspect), side / math.sqrt(aspect)
    else:  # CutPaste-scar: a thin long strip
        pw, ph = rng.uniform(0.01, 0.03) * s * scale, rng.uniform(0.08, 0.16) * s * scale
    pw, ph = max(pw, 2.0), max(ph, 2.0)
    cx, cy = _pick_centre(fg, 0.3 * min(pw, ph), rng)
    half = math.hypot(pw, ph) / 2
    for _ in range(20):
        sx, sy = rng.uniform(half, max(half + 1, w - half)), rng.uniform(half, max(half + 1, h - half))
        if math.hypot(sx - cx, sy - cy) > max(pw, ph):
            break
    ang = rng.uniform(-45, 45) if style == "patch" else rng.uniform(0, 180)
    box = _box(cx, cy, half + 3, img.shape)
    y0, y1, x0, x1 = box
    c, sn = math.cos(math.radians(ang)), math.sin(math.radians(ang))
    rot = np.array([[c, -sn], [sn, c]])
    # box pixel p takes the source pixel at (sx, sy) + rot @ (p - centre): the copy turns by -ang
    m = np.hstack([rot, (np.array([sx, sy]) - rot @ np.array([cx - x0, cy - y0]))[:, None]])
    patch = cv2.warpAffine(img, m, (x1 - x0, y1 - y0), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    corners = np.array([[-pw, -ph], [pw, -ph], [pw, ph], [-pw, ph]]) / 2 @ rot.T + [cx - x0, cy - y0]
    canvas = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(canvas, [np.round(corners * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    feather = max(0.5, 0.004 * s)
    alpha = cv2.GaussianBlur(canvas.astype(np.float32) / 255, (0, 0), feather)
    gain = rng.uniform(0.8, 1.2, 3).astype(np.float32)  # CutPaste's colour jitter
    offset = _shift_sign(float(_luma(_roi(img, box)).mean()), rng) * rng.uniform(0, 25)
    return box, alpha, patch.astype(np.float32) * gain + offset, dict(
        center=[cx, cy], source=[float(sx), float(sy)], size_px=[pw, ph], angle_deg=ang, style=style,
        gain=[float(g) for g in gain], offset=offset)


def _texture_source(img, rng, box, s) -> tuple[np.ndarray, str]:
    """A foreign texture for the Perlin region (DRAEM uses DTD; here it is made or borrowed)."""
    y0, y1, x0, x1 = box
    bh, bw = y1 - y0, x1 - x0
    kind = str(rng.choice(["noise", "stripes", "self"]))
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    if kind == "noise":
        t = sum(smooth_noise((bh, bw), (2 ** o, 2 ** o), rng) / 2 ** (o - 1) for o in range(1, 5))
        t = np.clip(t * 0.9 + 0.5, 0, 1)[..., None]
        return (c1 * (1 - t) + c2 * t).astype(np.float32), kind
    if kind == "stripes":
        yy, xx = _grid(box)
        a, period = rng.uniform(0, np.pi), rng.uniform(0.01, 0.04) * s
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * math.cos(a) + yy * math.sin(a)) / period)[..., None]
        return (c1 * (1 - t) + c2 * t).astype(np.float32), kind
    h, w = img.shape[:2]  # "self": another part of this image, turned and re-coloured
    sy, sx = int(rng.integers(0, max(1, h - bh))), int(rng.integers(0, max(1, w - bw)))
    src = img[sy:sy + bh, sx:sx + bw]
    src = np.rot90(src, int(rng.integers(1, 4))) if bh == bw else src[::-1, ::-1]
    src = src.astype(np.float32)
    op = int(rng.integers(3))
    src = 255 - src if op == 0 else np.where(src > 128, 255 - src, src) if op == 1 else \
        255 * (src / 255) ** rng.uniform(0.35, 0.6)
    return np.ascontiguousarray(src, np.float32), kind


def _perlin_texture(img, fg, rng, s, scale):
    import cv2

    r = rng.uniform(0.08, 0.16) * s * scale
    cx, cy = _pick_centre(fg, 0.5 * r, rng)
    box = _box(cx, cy, r, img.shape)
    side = min(box[1] - box[0], box[3] - box[2])
    box = (box[0], box[0] + side, box[2], box[2] + side)  # square, so "self" textures can rotate
    yy, xx = _grid(box)
    window = 1 - ((xx - cx) ** 2 + (yy - cy) ** 2) / r ** 2
    res = int(rng.choice([2, 3, 4]))
    for _ in range(10):
        field = smooth_noise(window.shape, (res, res), rng) + 0.6 * (window - 1)
        thr = rng.uniform(0.0, 0.2)
        if (field > thr).sum() >= max(4, 0.02 * window.size):
            break
    else:
        thr = 0.5 * float(field.max())
    hard = (field > thr).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(hard, connectivity=8)
    if n > 2:  # drop specks: keep pieces of at least a tenth of the largest
        area = stats[:, cv2.CC_STAT_AREA]
        keep = area >= 0.1 * area[1:].max()
        keep[0] = False
        hard = keep[labels].astype(np.uint8)
    hard = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), 0.6)
    beta = rng.uniform(0.1, 0.6)  # DRAEM: (1 - beta) of the texture over beta of the image
    texture, source = _texture_source(img, rng, box, s)
    return box, hard * (1 - beta), texture, dict(
        center=[cx, cy], radius_px=r, perlin_res=res, threshold=thr, beta=beta, texture=source)


_MAKERS = {"scratch": _scratch, "stain": _stain, "hole": _hole, "crack": _crack,
           "colour_spot": _colour_spot, "cutpaste": _cutpaste, "perlin_texture": _perlin_texture}


def _plain(value):
    """JSON-safe copy of a recipe value (numpy scalars and arrays to Python numbers/lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return round(float(value), 4)
    return value


def make_defect(image: np.ndarray, rng: np.random.Generator, kind: Optional[str] = None,
                foreground: Optional[np.ndarray] = None,
                scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Plant one synthetic defect.

    image: uint8 RGB (H, W, 3). foreground: bool (H, W) where the defect may go (default:
    everywhere). kind: one of DEFECT_KINDS, or None for a random one. scale: size factor.
    Returns (defective uint8 RGB (H, W, 3), bool mask (H, W) covering exactly the changed
    pixels, JSON-serialisable recipe with "kind" and its parameters).
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    if kind is None:
        kind = str(rng.choice(DEFECT_KINDS))
    if kind not in _MAKERS:
        raise ValueError(f"unknown defect kind {kind!r} (known: {', '.join(DEFECT_KINDS)})")
    fg = np.ones((h, w), bool) if foreground is None else np.asarray(foreground, bool)
    if fg.shape != (h, w) or not fg.any():
        raise ValueError("foreground must be a non-empty bool mask of the image's size")
    s = float(min(h, w))
    best = None
    for attempt in range(ATTEMPTS):
        box, alpha, target, params = _MAKERS[kind](image, fg, rng, s, scale)
        y0, y1, x0, x1 = box
        region = (alpha >= MASK_ALPHA) & fg[y0:y1, x0:x1]
        if not region.any():
            continue
        roi = image[y0:y1, x0:x1].astype(np.float32)
        a = np.where(region, alpha, 0)[..., None]
        blended = np.clip(np.rint(roi * (1 - a) + target * a), 0, 255).astype(np.uint8)
        change = float(np.abs(blended.astype(np.float32) - roi).max(axis=2)[region].mean())
        if best is None or change > best[0]:
            best = (change, box, region, blended, params, attempt)
        if change >= MIN_MEAN_CHANGE:
            break
    if best is None:
        raise ValueError(f"could not place a {kind} defect inside the foreground "
                         f"({int(fg.sum())} px); use a larger foreground or a smaller scale")
    change, (y0, y1, x0, x1), region, blended, params, attempt = best
    out, mask = image.copy(), np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = region
    out[y0:y1, x0:x1][region] = blended[region]
    recipe = _plain({"kind": kind, "scale": scale, **params, "area_px": int(region.sum()),
                     "mean_change": change, "attempt": attempt})
    return out, mask, recipe
