"""Rule-based synthetic defects: exact masks, placement, sizes, determinism; foreground estimate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inspector.generate.masks import foreground_mask, perlin_noise
from inspector.generate.rules import DEFECT_KINDS, make_defect


def _colour_image(size: int, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with fine noise (a stand-in for a product surface)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([90 + 80 * xx, 120 + 40 * yy, 60 + 50 * xx * yy], -1)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _grey_image(size: int, seed: int = 1) -> np.ndarray:
    g = _colour_image(size, seed).mean(axis=2, keepdims=True)
    return np.repeat(g, 3, axis=2).astype(np.uint8)


def _disc_image(size: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A bright disc on a dark background with a lighting gradient; returns (image, true fg)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    fg = (xx - 0.52) ** 2 + (yy - 0.48) ** 2 < 0.3 ** 2
    bg = np.stack([40 + 30 * xx, 42 + 30 * xx, 50 + 30 * xx], -1)
    obj = np.array([200, 170, 120]) * (0.9 + 0.1 * yy)[..., None]
    img = np.where(fg[..., None], obj, bg) + rng.normal(0, 3, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8), fg


IMAGES = {"colour": _colour_image, "grey": _grey_image}


@pytest.mark.parametrize("size", [256, 1024])
@pytest.mark.parametrize("look", ["colour", "grey"])
@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_every_kind_changes_exactly_its_mask(kind, look, size):
    img = IMAGES[look](size)
    out, mask, recipe = make_defect(img, np.random.default_rng(7), kind)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert mask.shape == img.shape[:2] and mask.dtype == bool
    assert recipe["kind"] == kind
    json.dumps(recipe)
    area = mask.mean()
    assert 20 / size ** 2 <= area <= 0.1, f"{kind}: mask covers {area:.4%} of the image"
    assert np.array_equal(out[~mask], img[~mask]), "pixels outside the mask changed"
    change = np.abs(out.astype(int) - img.astype(int)).max(axis=2)[mask]
    assert change.mean() >= 8, f"{kind}: mean change {change.mean():.1f} grey levels is invisible"
    assert (change > 0).mean() > 0.7


@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_defects_stay_inside_the_foreground(kind):
    img, fg = _disc_image(256)
    for seed in range(3):
        out, mask, _ = make_defect(img, np.random.default_rng(seed), kind, foreground=fg)
        assert mask.any()
        assert not (mask & ~fg).any()
        assert np.array_equal(out[~fg], img[~fg])


def test_same_seed_same_defect_and_different_seeds_differ():
    img = _colour_image(256)
    a = make_defect(img, np.random.default_rng(3))
    b = make_defect(img, np.random.default_rng(3))
    c = make_defect(img, np.random.default_rng(4))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    assert not np.array_equal(a[1], c[1])
    assert a[2]["kind"] in DEFECT_KINDS


def test_scale_changes_the_size():
    img = _colour_image(256)
    for kind in ("stain", "hole", "cutpaste"):
        small = [make_defect(img, np.random.default_rng(s), kind, scale=0.6)[1].sum() for s in range(6)]
        large = [make_defect(img, np.random.default_rng(s), kind, scale=1.6)[1].sum() for s in range(6)]
        assert np.median(large) > 2 * np.median(small), kind


def test_bad_arguments_are_refused():
    img = _colour_image(64)
    with pytest.raises(ValueError, match="unknown defect kind"):
        make_defect(img, np.random.default_rng(0), "dent-from-mars")
    with pytest.raises(ValueError, match="foreground"):
        make_defect(img, np.random.default_rng(0), "stain", foreground=np.zeros((64, 64), bool))
    with pytest.raises(ValueError, match="uint8 RGB"):
        make_defect(img[..., 0], np.random.default_rng(0), "stain")


def test_perlin_noise_is_smooth_bounded_and_seeded():
    a = perlin_noise((64, 96), (4, 6), np.random.default_rng(0))
    b = perlin_noise((64, 96), (4, 6), np.random.default_rng(0))
    assert a.shape == (64, 96) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.abs(a).max() <= 1.0 and a.std() > 0.05
    assert np.abs(np.diff(a, axis=1)).max() < 0.2  # smooth: no jumps between neighbours


def test_foreground_of_an_object_on_a_plain_background():
    for size in (256, 1024):
        img, fg = _disc_image(size)
        est = foreground_mask(img)
        assert est.shape == fg.shape and est.dtype == bool
        assert (est & fg).sum() / (est | fg).sum() > 0.9


def test_foreground_keeps_a_bore_but_fills_small_specks():
    import cv2

    img = np.full((256, 256, 3), 50, np.uint8)
    cv2.circle(img, (128, 128), 90, (190, 190, 195), -1)
    cv2.circle(img, (128, 128), 40, (50, 50, 50), -1)  # the bore: background
    cv2.circle(img, (128, 63), 4, (50, 50, 50), -1)  # a dark speck on the part
    est = foreground_mask(img)
    assert not est[128, 128] and est[128, 60] and est[63, 128] and not est[5, 5]


def test_texture_is_all_foreground():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256]
    tex = 128 + 40 * np.sin(xx / 3.0) * np.cos(yy / 4.0) + rng.normal(0, 6, (256, 256))
    img = np.repeat(np.clip(tex, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    assert foreground_mask(img).all()
    assert foreground_mask(_colour_image(256)).all()


def test_foreground_on_real_objects(real_data):
    from inspector.core.image_io import load_image

    for path in sorted((real_data / "cookie" / "train" / "good").iterdir())[:3]:
        img = load_image(path)
        fg = foreground_mask(img)
        h, w = fg.shape
        assert 0.1 < fg.mean() < 0.5, path.name  # the cookie, not the tray
        assert not fg[: h // 20].any() or fg[: h // 20].mean() < 0.05
