"""Procedurally rendered demo products with planted defects of known masks.

Two products, so the app has a demo with no downloaded data:
  fabric  a woven canvas texture (plain weave, thread-to-thread variation, soft lighting);
  washer  a lathe-turned steel washer on a plain background, aligned, with small shift,
          rotation and lighting jitter.
Renders are pure numpy/cv2 (about 10-30 ms at 256 px on a laptop-class CPU).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .rules import make_defect

PRODUCTS = ("fabric", "washer")
# defect kinds planted in each product's test set (folder names under test/ and ground_truth/)
PRODUCT_DEFECTS = {
    "fabric": ("hole", "stain", "colour_spot", "scratch", "cutpaste", "perlin_texture"),
    "washer": ("scratch", "crack", "stain", "hole", "colour_spot", "cutpaste"),
}


def _check(product: str, size: int) -> None:
    if product not in PRODUCTS:
        raise ValueError(f"unknown demo product {product!r} (known: {', '.join(PRODUCTS)})")
    if size < 32:
        raise ValueError(f"demo image size must be at least 32 px, got {size}")


def _finish(img: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Camera look: slight optical blur and sensor noise, to uint8."""
    import cv2

    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.6)
    img += noise * rng.standard_normal(img.shape[:2], np.float32)[..., None]
    img += 0.5 * noise * rng.standard_normal(img.shape, np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _fabric(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    from .masks import smooth_noise

    s = size
    period = s / 22 * rng.uniform(0.985, 1.015)  # thread pitch: 22 threads across the image
    ang = math.radians(rng.uniform(-1.5, 1.5))
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    wobble = period * 0.18
    u = (xx * math.cos(ang) + yy * math.sin(ang)) / period + rng.uniform(0, 2) \
        + wobble / period * smooth_noise((s, s), (3, 3), rng)
    v = (-xx * math.sin(ang) + yy * math.cos(ang)) / period + rng.uniform(0, 2) \
        + wobble / period * smooth_noise((s, s), (3, 3), rng)
    fu, fv = u - np.floor(u), v - np.floor(v)
    i, j = (u - fu).astype(np.int64), (v - fv).astype(np.int64)
    warp_on_top = (i + j) % 2 == 0
    su, sv = np.sin(np.float32(np.pi) * fu), np.sin(np.float32(np.pi) * fv)
    # round thread (bright centre) that dips under its neighbour at both ends
    shade = np.where(warp_on_top, np.sqrt(su) * (0.72 + 0.28 * sv), np.sqrt(sv) * (0.72 + 0.28 * su))
    n = 64
    warp_tone = rng.normal(1, 0.045, n).astype(np.float32)
    weft_tone = rng.normal(1, 0.045, n).astype(np.float32)
    tone = np.where(warp_on_top, warp_tone[i % n], weft_tone[j % n])
    # fibres run along each thread: noise smeared along the thread direction
    k = max(3, int(period * 0.8) | 1)
    raw = rng.standard_normal((s, s), np.float32)
    fib = np.where(warp_on_top, cv2.blur(raw, (1, k)), cv2.blur(raw, (k, 1))) * math.sqrt(k) * 0.05
    warp_col = np.array([200, 184, 156], np.float32)
    weft_col = np.array([186, 168, 138], np.float32)
    col = np.where(warp_on_top[..., None], warp_col, weft_col)
    lum = (0.25 + 0.75 * shade) * tone * (1 + fib)
    la = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0, 0.08) * ((xx - s / 2) * math.cos(la) + (yy - s / 2) * math.sin(la)) / s
    light *= rng.uniform(0.95, 1.05)
    img = col * (lum * light)[..., None]
    return _finish(img, rng, 2.0), np.ones((s, s), bool)


def _washer(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    s = size
    cx = s / 2 + np.clip(rng.normal(0, 0.008), -0.02, 0.02) * s
    cy = s / 2 + np.clip(rng.normal(0, 0.008), -0.02, 0.02) * s
    r_out, r_in = 0.38 * s * rng.uniform(0.995, 1.005), 0.165 * s * rng.uniform(0.995, 1.005)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    d = np.sqrt(dx * dx + dy * dy)
    theta = np.arctan2(dy, dx)
    # anti-aliased edges: coverage over one pixel
    ring = np.clip(r_out - d + 0.5, 0, 1) * np.clip(d - r_in + 0.5, 0, 1)
    # the locking tab pointing into the hole, near the top: it shows the part's rotation
    phi = -np.pi / 2 + rng.uniform(-0.08, 0.08)
    along, across = dx * math.cos(phi) + dy * math.sin(phi), -dx * math.sin(phi) + dy * math.cos(phi)
    tab_half, tab_len = 0.035 * s, 0.05 * s
    tab = np.clip(tab_half - np.abs(across) + 0.5, 0, 1) * np.clip(d - (r_in - tab_len) + 0.5, 0, 1) \
        * (along > 0) * (d < r_in + 1)
    alpha = np.maximum(ring, tab)
    t = (d - r_in) / (r_out - r_in)
    light_dir = math.radians(-135) + rng.uniform(-0.1, 0.1)  # light from the top left
    facing = np.cos(theta - light_dir)
    bevel = 0.07
    outer, inner = t > 1 - bevel, (t < bevel) & (t >= 0)
    face = np.full_like(d, 0.78)
    face = np.where(outer, 0.78 + 0.35 * facing, face)
    face = np.where(inner, 0.78 - 0.35 * facing, face)
    face = np.where(t < 0, 0.7 - 0.1 * math.cos(phi - light_dir), face)  # the stamped tab is matte
    # lathe marks: fine concentric rings, a 1-D noise over the radius
    rings = rng.normal(0, 1, int(r_out) + 4).astype(np.float32)
    rings = np.convolve(rings, np.ones(2) / 2, mode="same") * 0.035
    ring_tex = rings[np.minimum(d.astype(np.int32), rings.size - 1)] * (t >= 0)
    # anisotropic highlight of circular brushing: two bright lobes across the light direction
    lobe_w = rng.uniform(0.28, 0.34)
    diff = np.mod(theta - light_dir, np.pi) - np.pi / 2  # angle to the lobe axis
    lobe = 0.22 * np.exp(-(diff / lobe_w) ** 2) * (~outer & ~inner & (t >= 0))
    gain = rng.uniform(0.96, 1.04)
    steel = np.array([168, 172, 178], np.float32)
    metal = steel * ((face + ring_tex + lobe) * gain)[..., None]
    bg_col = np.array([58, 62, 70], np.float32) * rng.uniform(0.97, 1.03)
    vignette = 1 - 0.72 * ((dx / s) ** 2 + (dy / s) ** 2)
    shadow_off = 0.012 * s
    m = cv2.warpAffine(alpha, np.float32([[1, 0, shadow_off], [0, 1, shadow_off]]), (s, s))
    shadow = cv2.GaussianBlur(m, (0, 0), 0.015 * s)
    bg = bg_col * (vignette * (1 - 0.45 * shadow))[..., None]
    img = bg * (1 - alpha[..., None]) + metal * alpha[..., None]
    return _finish(img, rng, 2.0), alpha > 0.5


_RENDERERS = {"fabric": _fabric, "washer": _washer}


def render_good_with_foreground(product: str, rng: np.random.Generator,
                                size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """A defect-free sample: (uint8 RGB (size, size, 3), bool foreground (size, size))."""
    _check(product, size)
    return _RENDERERS[product](rng, size)


def render_good(product: str, rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """A defect-free sample of a demo product, uint8 RGB (size, size, 3)."""
    return render_good_with_foreground(product, rng, size)[0]


def render_defective(product: str, rng: np.random.Generator, size: int = 256,
                     kind: str | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """A sample with one planted defect: (uint8 RGB, bool mask (size, size), recipe).

    kind: one of PRODUCT_DEFECTS[product] (any rules.DEFECT_KINDS works), None for random.
    """
    image, fg = render_good_with_foreground(product, rng, size)
    if kind is None:
        kind = str(rng.choice(PRODUCT_DEFECTS[product]))
    out, mask, recipe = make_defect(image, rng, kind, foreground=fg)
    return out, mask, {"product": product, **recipe}


def write_demo_dataset(root: Path, product: str, n_train: int = 16, n_test_good: int = 8,
                       n_test_bad: int = 12, size: int = 256, seed: int = 0) -> Path:
    """Write one demo product in MVTec-AD layout under root/<product>; returns that folder.

    train/good/NNN.png, test/good/NNN.png, test/<kind>/NNN.png and
    ground_truth/<kind>/NNN_mask.png (255 = defect). Defective images cycle through
    PRODUCT_DEFECTS[product]. Each image has its own seed stream, so the same seed gives the
    same images whatever the counts. Same-named files are overwritten.
    """
    from ..core.image_io import save_png

    _check(product, size)
    base = Path(root) / product
    pid = PRODUCTS.index(product)

    def rng_for(split: int, k: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([seed, pid, split, k]))

    for k in range(n_train):
        save_png(base / "train" / "good" / f"{k:03d}.png", render_good(product, rng_for(0, k), size))
    for k in range(n_test_good):
        save_png(base / "test" / "good" / f"{k:03d}.png", render_good(product, rng_for(1, k), size))
    kinds = PRODUCT_DEFECTS[product]
    counts = {kd: 0 for kd in kinds}
    for k in range(n_test_bad):
        kind = kinds[k % len(kinds)]
        img, mask, _ = render_defective(product, rng_for(2, k), size, kind=kind)
        name = f"{counts[kind]:03d}"
        counts[kind] += 1
        save_png(base / "ground_truth" / kind / f"{name}_mask.png", mask.astype(np.uint8) * 255)
        save_png(base / "test" / kind / f"{name}.png", img)
    return base
