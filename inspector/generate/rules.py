"""Rule-based synthetic defects (no model weights): defective image + exact mask + recipe.

Each kind builds, inside a small box, a soft opacity `alpha` in [0, 1] and a target
appearance (or, for Poisson blending, the blended result with alpha 1). Alpha below
MASK_ALPHA or outside the foreground is dropped; the mask is then the pixels that really
changed (contract.CHANGE_TOLERANCE) and no other pixel changes. Sizes are fractions of the
image's short side `s` (times `scale`), so the same recipe works from 64 to 4000 px. The part
is never rotated as a whole (aligned products stay aligned); only pasted patches turn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..core.errors import InspectorError
from ..core.progress import check_cancel
from .contract import CHANGE_TOLERANCE, DefectSpec, GenerationContext, Sample, check_inputs, derive_mask
from .masks import smooth_noise
from .poisson import poisson_patch
from .shapes import blob_field, box_around, box_grid, crop_f32, luma, mark_sign, pick_centre, stroke
from .surface import dent, missing

# The first seven are the original family (the calibration's recall estimate draws from them).
CLASSIC_KINDS = ("scratch", "stain", "hole", "crack", "colour_spot", "cutpaste", "perlin_texture")
DEFECT_KINDS = CLASSIC_KINDS + ("poisson", "dent", "missing")
RULES_VERSION = "rules-2"
MASK_ALPHA = 0.2  # opacity at which a changed pixel counts as defect
MIN_MEAN_CHANGE = 8.0  # grey levels; a defect that changes its mask less than this is redrawn
ATTEMPTS = 6


def _scratch(img, fg, rng, s, scale, ctx):
    length = rng.uniform(0.12, 0.32) * s * scale
    width = max(1.2, rng.uniform(0.004, 0.009) * s * scale)
    cx, cy = pick_centre(fg, 0.1 * length, rng)
    a0, bend = rng.uniform(0, np.pi), rng.normal(0, 1.2) / length
    t = np.linspace(-0.5, 0.5, 25) * length
    ang = a0 + bend * t
    step = length / 24
    pts = np.stack([np.cumsum(np.cos(ang)) * step, np.cumsum(np.sin(ang)) * step], 1)
    pts += [cx, cy] - pts[12]
    box = box_around(cx, cy, length / 2 + 2 * width + 4, img.shape)
    strength = rng.uniform(0.5, 1.0)
    alpha = stroke(box, pts, width, taper=True) * strength
    roi = crop_f32(img, box)
    sign = mark_sign(float(luma(roi).mean()), rng)
    delta = rng.uniform(60, 120)
    return box, alpha, roi + sign * delta, dict(
        center=[cx, cy], length_px=length, width_px=width, angle_deg=math.degrees(a0),
        strength=strength, brightness=sign * delta)


def _crack(img, fg, rng, s, scale, ctx):
    length = rng.uniform(0.1, 0.24) * s * scale
    width = max(1.2, rng.uniform(0.004, 0.008) * s * scale)
    cx, cy = pick_centre(fg, 0.1 * length, rng)
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
    box = box_around(cx, cy, r, img.shape)
    alpha = np.zeros((box[1] - box[0], box[3] - box[2]), np.float32)
    for pts, wf in strokes:
        alpha = np.maximum(alpha, stroke(box, pts, width * wf, taper=wf < 1))
    strength = rng.uniform(0.6, 1.0)
    darkness = rng.uniform(0.1, 0.4)
    roi = crop_f32(img, box)
    # a dark gap; on dark parts the broken edges catch the light instead
    target = roi * darkness if luma(roi).mean() >= 60 else roi + rng.uniform(60, 110)
    return box, alpha * strength, target, dict(
        center=[cx, cy], length_px=length, width_px=width, strength=strength, darkness=darkness,
        branches=len(strokes) - 2)


def _stain(img, fg, rng, s, scale, ctx):
    r = rng.uniform(0.04, 0.08) * s * scale
    cx, cy = pick_centre(fg, 0.6 * r, rng)
    box = box_around(cx, cy, 1.4 * r, img.shape)
    field = blob_field(box, cx, cy, r, rng, rough=0.35)
    body = np.clip(field / 0.3, 0, 1)
    rim = np.exp(-((field - 0.04) / 0.05) ** 2)  # dried stains are darker at their edge
    strength = rng.uniform(0.5, 0.9)
    alpha = np.clip(0.75 * body + 0.35 * rim, 0, 1) * (field > -0.05) * strength
    roi = crop_f32(img, box)
    lum = float(luma(roi).mean())
    if lum < 70:  # on dark parts a stain shows as a light residue
        tint = rng.uniform(150, 210) * np.array([1.0, 0.95, 0.85])
        target, how = np.broadcast_to(tint, roi.shape).astype(np.float32), "residue"
    else:
        tint = np.array([[0.72, 0.58, 0.38], [0.5, 0.5, 0.5], [0.62, 0.64, 0.7]])[rng.integers(3)]
        target, how = roi * tint * rng.uniform(0.6, 0.9), "absorbing"
    return box, alpha.astype(np.float32), target, dict(
        center=[cx, cy], radius_px=r, strength=strength, style=how)


def _hole(img, fg, rng, s, scale, ctx):
    r = rng.uniform(0.02, 0.045) * s * scale
    cx, cy = pick_centre(fg, r, rng)
    box = box_around(cx, cy, 1.6 * r, img.shape)
    field = blob_field(box, cx, cy, r, rng, rough=0.3)
    px = 1.0 / max(r, 1.0)  # one pixel in field units
    inside = np.clip(field / px + 0.5, 0, 1)
    rim = np.clip(1 - np.abs(field + 0.12) / 0.15, 0, 1) * (1 - inside)  # torn edge / burr
    roi = crop_f32(img, box)
    # what shows through: the dark backing, or the light behind a dark part (back-lit)
    through = rng.uniform(5, 30) if luma(roi).mean() >= 60 else rng.uniform(170, 230)
    fill = through + rng.normal(0, 3, roi.shape[:2])[..., None]
    rim_gain = rng.uniform(0.45, 0.7)
    target = np.where(inside[..., None] > 0, np.broadcast_to(fill, roi.shape), roi * rim_gain)
    alpha = np.maximum(inside, 0.7 * rim)
    return box, alpha.astype(np.float32), target.astype(np.float32), dict(
        center=[cx, cy], radius_px=r, rim_gain=rim_gain, fill=through)


def _colour_spot(img, fg, rng, s, scale, ctx):
    import colorsys

    r = rng.uniform(0.015, 0.045) * s * scale
    cx, cy = pick_centre(fg, 0.6 * r, rng)
    box = box_around(cx, cy, 1.4 * r, img.shape)
    field = blob_field(box, cx, cy, r, rng, rough=0.25)
    strength = rng.uniform(0.55, 0.95)
    alpha = np.clip(field / 0.2, 0, 1) * strength
    roi = crop_f32(img, box)
    lum = luma(roi)
    hue = rng.uniform(0, 1)
    colour = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.6, 1.0), 1.0), np.float32)
    level = np.clip(lum.mean(), 70, 200)
    target = colour * (level * (lum + 30) / (float(lum.mean()) + 30))[..., None]  # keeps the texture
    return box, alpha.astype(np.float32), target, dict(
        center=[cx, cy], radius_px=r, strength=strength, hue=hue,
        rgb=[float(c) for c in colour * level])


def _cutpaste(img, fg, rng, s, scale, ctx):
    import cv2

    h, w = img.shape[:2]
    style = str(rng.choice(["patch", "scar"]))
    if style == "patch":
        side, aspect = rng.uniform(0.07, 0.14) * s * scale, math.exp(rng.uniform(-0.9, 0.9))
        pw, ph = side * math.sqrt(aspect), side / math.sqrt(aspect)
    else:  # CutPaste-scar: a thin long strip
        pw, ph = rng.uniform(0.01, 0.03) * s * scale, rng.uniform(0.08, 0.16) * s * scale
    pw, ph = max(pw, 2.0), max(ph, 2.0)
    cx, cy = pick_centre(fg, 0.3 * min(pw, ph), rng)
    half = math.hypot(pw, ph) / 2
    for _ in range(20):
        sx, sy = rng.uniform(half, max(half + 1, w - half)), rng.uniform(half, max(half + 1, h - half))
        if math.hypot(sx - cx, sy - cy) > max(pw, ph):
            break
    ang = rng.uniform(-45, 45) if style == "patch" else rng.uniform(0, 180)
    box = box_around(cx, cy, half + 3, img.shape)
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
    offset = mark_sign(float(luma(crop_f32(img, box)).mean()), rng) * rng.uniform(0, 25)
    return box, alpha, patch.astype(np.float32) * gain + offset, dict(
        center=[cx, cy], source=[float(sx), float(sy)], size_px=[pw, ph], angle_deg=ang, style=style,
        gain=[float(g) for g in gain], offset=offset)


def _texture_source(img, rng, box, s, sources=()) -> tuple[np.ndarray, str]:
    """A foreign texture for the Perlin region (DRAEM uses DTD; here it is made or borrowed):
    procedural noise or stripes, another region of this image, or a region of another reference."""
    y0, y1, x0, x1 = box
    bh, bw = y1 - y0, x1 - x0
    kind = str(rng.choice(["noise", "stripes", "self"] + (["reference"] if sources else [])))
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    if kind == "noise":
        t = sum(smooth_noise((bh, bw), (2 ** o, 2 ** o), rng) / 2 ** (o - 1) for o in range(1, 5))
        t = np.clip(t * 0.9 + 0.5, 0, 1)[..., None]
        return (c1 * (1 - t) + c2 * t).astype(np.float32), kind
    if kind == "stripes":
        yy, xx = box_grid(box)
        a, period = rng.uniform(0, np.pi), rng.uniform(0.01, 0.04) * s
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * math.cos(a) + yy * math.sin(a)) / period)[..., None]
        return (c1 * (1 - t) + c2 * t).astype(np.float32), kind
    if kind == "reference":  # another reference, so the texture is the product's own material
        k = int(rng.integers(len(sources)))
        img, kind = sources[k][0], f"reference:{k}"
    h, w = img.shape[:2]  # "self": another part of this image, turned and re-coloured
    bh, bw = min(bh, h), min(bw, w)
    sy, sx = int(rng.integers(0, max(1, h - bh))), int(rng.integers(0, max(1, w - bw)))
    src = img[sy:sy + bh, sx:sx + bw]
    src = np.rot90(src, int(rng.integers(1, 4))) if bh == bw else src[::-1, ::-1]
    src = src.astype(np.float32)
    op = int(rng.integers(3))
    src = 255 - src if op == 0 else np.where(src > 128, 255 - src, src) if op == 1 else \
        255 * (src / 255) ** rng.uniform(0.35, 0.6)
    return np.ascontiguousarray(src, np.float32), kind


def _perlin_texture(img, fg, rng, s, scale, ctx):
    import cv2

    r = rng.uniform(0.08, 0.16) * s * scale
    cx, cy = pick_centre(fg, 0.5 * r, rng)
    box = box_around(cx, cy, r, img.shape)
    side = min(box[1] - box[0], box[3] - box[2])
    box = (box[0], box[0] + side, box[2], box[2] + side)  # square, so "self" textures can rotate
    yy, xx = box_grid(box)
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
    texture, source = _texture_source(img, rng, box, s, [im for im, _ in ctx.sources])
    if texture.shape[:2] != hard.shape:  # a smaller source image: tile it over the box
        reps = (-(-hard.shape[0] // texture.shape[0]), -(-hard.shape[1] // texture.shape[1]), 1)
        texture = np.ascontiguousarray(np.tile(texture, reps)[:hard.shape[0], :hard.shape[1]])
    return box, hard * (1 - beta), texture, dict(
        center=[cx, cy], radius_px=r, perlin_res=res, threshold=thr, beta=beta, texture=source)


@dataclass
class MakerContext:
    """What a maker may use besides the image: other references and whether it is a texture."""

    sources: Sequence[tuple[np.ndarray, Optional[np.ndarray]]] = ()
    texture: bool = False
    params: dict = field(default_factory=dict)


_MAKERS = {"scratch": _scratch, "stain": _stain, "hole": _hole, "crack": _crack,
           "colour_spot": _colour_spot, "cutpaste": _cutpaste, "perlin_texture": _perlin_texture,
           "poisson": poisson_patch, "dent": dent, "missing": missing}
assert tuple(_MAKERS) == DEFECT_KINDS

# Engineer's defect words -> kinds that look like them (substring match, first hit wins).
WORD_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("scratch", ("scratch",)), ("scuff", ("scratch",)), ("abrasion", ("scratch", "perlin_texture")),
    ("crack", ("crack",)), ("fissure", ("crack",)), ("split", ("crack",)),
    ("hole", ("hole",)), ("poke", ("hole",)), ("puncture", ("hole",)), ("pore", ("hole",)),
    ("dent", ("dent",)), ("bump", ("dent",)), ("deform", ("dent",)), ("bent", ("dent",)),
    ("squeez", ("dent",)), ("fold", ("dent", "cutpaste")), ("wrinkle", ("dent",)),
    ("missing", ("missing",)), ("chip", ("missing",)), ("broken", ("missing", "crack")),
    ("break", ("missing", "crack")), ("tear", ("missing", "cutpaste")), ("cut", ("cutpaste", "scratch")),
    ("stain", ("stain",)), ("oil", ("stain",)), ("dirt", ("stain", "colour_spot")),
    ("glue", ("stain",)), ("burn", ("stain",)), ("contamin", ("poisson", "colour_spot", "stain")),
    ("colo", ("colour_spot",)), ("spot", ("colour_spot", "stain")), ("print", ("poisson", "perlin_texture")),
    ("thread", ("perlin_texture", "poisson")), ("rough", ("perlin_texture",)),
    ("foreign", ("poisson", "cutpaste")), ("misplace", ("poisson", "cutpaste")),
)


def kinds_for_word(word: str) -> tuple[str, ...]:
    """The rule-based kinds that render a defect word; all kinds for an unknown or empty word."""
    w = word.strip().lower().replace(" ", "_")
    if w in _MAKERS:
        return (w,)
    for key, kinds in WORD_KINDS:
        if key in w:
            return kinds
    return DEFECT_KINDS


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
                foreground: Optional[np.ndarray] = None, scale: float = 1.0,
                sources: Sequence[tuple[np.ndarray, Optional[np.ndarray]]] = (),
                kinds: Sequence[str] = DEFECT_KINDS, texture: Optional[bool] = None,
                params: Optional[dict] = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Plant one synthetic defect.

    image: uint8 RGB (H, W, 3). foreground: bool (H, W) where the defect may go (default:
    everywhere). kind: one of DEFECT_KINDS, or None for a random one of `kinds`. scale: size
    factor. sources: other references (image, foreground or None) for Poisson and texture
    patches. texture: whether the product is a texture (default: the foreground is everything).
    Returns (defective uint8 RGB (H, W, 3), bool mask (H, W), JSON-serialisable recipe with
    "kind" and its parameters). The mask is exactly the pixels that changed by more than
    CHANGE_TOLERANCE inside the foreground; every other pixel keeps its value.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    if kind is None:
        kind = str(rng.choice(list(kinds)))
    if kind not in _MAKERS:
        raise ValueError(f"unknown defect kind {kind!r} (known: {', '.join(DEFECT_KINDS)})")
    fg = np.ones((h, w), bool) if foreground is None else np.asarray(foreground, bool)
    if fg.shape != (h, w) or not fg.any():
        raise ValueError("foreground must be a non-empty bool mask of the image's size")
    ctx = MakerContext(sources, bool(fg.all()) if texture is None else texture, params or {})
    s = float(min(h, w))
    best = None
    for attempt in range(ATTEMPTS):
        box, alpha, target, params_k = _MAKERS[kind](image, fg, rng, s, scale, ctx)
        y0, y1, x0, x1 = box
        region = (alpha >= MASK_ALPHA) & fg[y0:y1, x0:x1]
        if not region.any():
            continue
        roi = image[y0:y1, x0:x1]
        a = np.where(region, alpha, 0)[..., None]
        blended = np.clip(np.rint(roi * (1 - a) + target * a), 0, 255).astype(np.uint8)
        changed = (np.abs(blended.astype(np.int16) - roi).max(axis=2) > CHANGE_TOLERANCE) & region
        if not changed.any():
            continue
        change = float(np.abs(blended.astype(np.float32) - roi).max(axis=2)[changed].mean())
        score = change * min(1.0, changed.sum() / 16)  # a few changed pixels are not a defect
        if best is None or score > best[0]:
            best = (score, change, box, changed, blended, params_k, attempt)
        if change >= MIN_MEAN_CHANGE and changed.sum() >= min(16, 0.5 * region.sum()):
            break
    if best is None:
        raise ValueError(f"could not place a {kind} defect inside the foreground "
                         f"({int(fg.sum())} px); use a larger foreground or a smaller scale")
    _, change, (y0, y1, x0, x1), changed, blended, params_k, attempt = best
    out, mask = image.copy(), np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = changed
    out[y0:y1, x0:x1][changed] = blended[changed]
    recipe = _plain({"kind": kind, "scale": scale, **params_k, "area_px": int(changed.sum()),
                     "mean_change": change, "attempt": attempt})
    return out, mask, recipe


def generate_rules(image: np.ndarray, foreground: Optional[np.ndarray], defect: DefectSpec, seed: int,
                   context: GenerationContext) -> Sample:
    """The contract's rule-based method: `defect.count` defects of the word's kinds (or
    `defect.kind`), on the foreground ∩ requested region; see contract.py."""
    allowed = check_inputs(image, foreground, context.region)
    if not 1 <= defect.count <= 8:
        raise InspectorError(f"count of defects per sample is {defect.count} — use 1 to 8")
    if not 0.1 <= defect.scale <= 5:
        raise InspectorError(f"defect scale is {defect.scale} — use 0.1 to 5 (1 is the typical size)")
    if defect.kind and defect.kind not in _MAKERS:
        raise InspectorError(f"unknown rule-based defect kind '{defect.kind}' — use one of {', '.join(DEFECT_KINDS)}")
    kinds = (defect.kind,) if defect.kind else kinds_for_word(defect.word)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    texture = bool(np.asarray(foreground, bool).all()) if foreground is not None else True
    out, parts = image, []
    for _ in range(defect.count):
        check_cancel(context.cancel)
        try:
            out, _, rec = make_defect(out, rng, None, allowed, defect.scale, context.sources, kinds,
                                      texture, context.params)
        except ValueError as exc:
            raise InspectorError(f"{exc} — draw a larger region or lower the scale") from None
        parts.append(rec)
    final, mask = derive_mask(image, out, allowed)
    recipe = _plain({"method": "rules", "version": RULES_VERSION, "seed": int(seed),
                     "defect": defect.to_json(), "params": dict(context.params),
                     "tolerance": CHANGE_TOLERANCE, "texture": texture, "n_sources": len(context.sources),
                     "defects": parts, "area_px": int(mask.sum()), "model_versions": {}})
    return Sample(final, mask, recipe)


def recall_defect(image: np.ndarray, rng: np.random.Generator, ignore: Sequence = ()) -> np.ndarray:
    """A good image with one classic rule-based defect on its estimated foreground: the
    defect maker the services give the calibration's recall estimate. With `ignore` (the
    recipe's ignore regions) the defect goes where the product is inspected: one planted where
    it is not would count as missed."""
    from ..core.ignore_regions import ignored_mask
    from .masks import foreground_mask

    foreground = foreground_mask(image)
    texture = bool(foreground.all())
    if ignore:
        inspected = ~ignored_mask(ignore, image.shape[:2])
        foreground = foreground & inspected if (foreground & inspected).any() else inspected
    return make_defect(image, rng, foreground=foreground, kinds=CLASSIC_KINDS, texture=texture)[0]
