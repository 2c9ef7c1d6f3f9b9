"""Procedural demo products: renders, planted defects and the MVTec-layout demo dataset."""

from __future__ import annotations

import time

import numpy as np
import pytest

from inspector.generate.procedural import (PRODUCT_DEFECTS, PRODUCTS, render_defective, render_good,
                                           render_good_with_foreground, write_demo_dataset)


@pytest.mark.parametrize("product", PRODUCTS)
@pytest.mark.parametrize("size", [128, 256])
def test_render_good_shape_dtype_and_seed(product, size):
    a = render_good(product, np.random.default_rng(5), size)
    b = render_good(product, np.random.default_rng(5), size)
    c = render_good(product, np.random.default_rng(6), size)
    assert a.shape == (size, size, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 20 < a.mean() < 230 and a.std() > 10  # neither blank nor saturated


@pytest.mark.parametrize("product", PRODUCTS)
def test_good_samples_vary_a_little(product):
    """Two good samples differ (jitter) but far less than an unrelated image would."""
    imgs = [render_good(product, np.random.default_rng(s), 256).astype(float) for s in range(4)]
    means = [im.mean(axis=(0, 1)) for im in imgs]
    assert np.ptp(np.array(means), axis=0).max() < 15
    assert any(np.abs(imgs[0] - im).mean() > 1 for im in imgs[1:])


def test_washer_is_an_aligned_object_and_fabric_a_texture():
    from inspector.generate.masks import foreground_mask

    img, fg = render_good_with_foreground("washer", np.random.default_rng(0), 256)
    assert 0.25 < fg.mean() < 0.5
    assert not fg[128, 128] and not fg[5, 5]  # the bore and the corner are background
    est = foreground_mask(img)
    assert (est & fg).sum() / (est | fg).sum() > 0.9
    others = [render_good_with_foreground("washer", np.random.default_rng(s), 256)[1] for s in (1, 2)]
    assert all((fg & o).sum() / (fg | o).sum() > 0.85 for o in others)  # small shift only
    fabric, ffg = render_good_with_foreground("fabric", np.random.default_rng(0), 256)
    assert ffg.all() and foreground_mask(fabric).all()


@pytest.mark.parametrize("product", PRODUCTS)
def test_defective_masks_are_exact_and_inside_the_part(product):
    for kind in PRODUCT_DEFECTS[product]:
        for seed in range(2):
            good, fg = render_good_with_foreground(product, np.random.default_rng(seed), 256)
            img, mask, recipe = render_defective(product, np.random.default_rng(seed), 256, kind=kind)
            assert img.shape == (256, 256, 3) and img.dtype == np.uint8 and mask.dtype == bool
            assert recipe["kind"] == kind and recipe["product"] == product
            assert mask.any() and not (mask & ~fg).any()
            assert 0.0003 < mask.mean() < 0.08, f"{product}/{kind}: {mask.mean():.4%} of the image"
            assert np.array_equal(img[~mask], good[~mask])  # the same render underneath


def test_random_kind_comes_from_the_product_list():
    kinds = {render_defective("washer", np.random.default_rng(s), 128)[2]["kind"] for s in range(12)}
    assert kinds <= set(PRODUCT_DEFECTS["washer"]) and len(kinds) > 2


def test_renders_are_fast():
    rng = np.random.default_rng(0)
    for product in PRODUCTS:
        render_good(product, rng, 256)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            render_defective(product, rng, 256)
            times.append(time.perf_counter() - t0)
        # target is < 50 ms; the bound is loose so a busy CI machine does not fail it
        assert min(times) < 0.15, f"{product}: {min(times) * 1000:.0f} ms per 256 px image"


def test_unknown_product_and_tiny_size_are_refused():
    with pytest.raises(ValueError, match="unknown demo product"):
        render_good("teapot", np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least"):
        render_good("fabric", np.random.default_rng(0), 8)


def test_demo_dataset_layout_is_mvtec_and_readable(tmp_path):
    from inspector.core.image_io import load_image, load_mask

    base = write_demo_dataset(tmp_path, "washer", n_train=3, n_test_good=2, n_test_bad=8, size=96, seed=1)
    assert base == tmp_path / "washer"
    assert sorted(p.name for p in (base / "train" / "good").iterdir()) == ["000.png", "001.png", "002.png"]
    assert sorted(p.name for p in (base / "test" / "good").iterdir()) == ["000.png", "001.png"]
    kinds = PRODUCT_DEFECTS["washer"]
    bad_dirs = sorted(p.name for p in (base / "test").iterdir() if p.name != "good")
    assert bad_dirs == sorted(kinds)
    n_bad = 0
    for kind in kinds:
        images = sorted((base / "test" / kind).glob("*.png"))
        masks = sorted((base / "ground_truth" / kind).glob("*_mask.png"))
        assert [m.name for m in masks] == [f"{p.stem}_mask.png" for p in images]
        for p, m in zip(images, masks):
            img = load_image(p)
            mask = load_mask(m, img.shape[:2])
            assert img.shape == (96, 96, 3) and mask.any() and mask.mean() < 0.1
            n_bad += 1
    assert n_bad == 8
    assert not (base / "ground_truth" / "good").exists()
    for p in (base / "train" / "good").iterdir():
        assert load_image(p).shape == (96, 96, 3)


def test_demo_dataset_is_seeded_per_image(tmp_path):
    from inspector.core.image_io import load_image

    a = write_demo_dataset(tmp_path / "a", "fabric", n_train=2, n_test_good=1, n_test_bad=2, size=64, seed=3)
    b = write_demo_dataset(tmp_path / "b", "fabric", n_train=4, n_test_good=1, n_test_bad=3, size=64, seed=3)
    c = write_demo_dataset(tmp_path / "c", "fabric", n_train=2, n_test_good=1, n_test_bad=2, size=64, seed=4)
    same = lambda x, y, rel: np.array_equal(load_image(x / rel), load_image(y / rel))  # noqa: E731
    assert same(a, b, "train/good/001.png") and same(a, b, "test/hole/000.png")
    assert not same(a, c, "train/good/000.png")


def test_demo_dataset_reads_as_an_evaluation_category(tmp_path):
    from inspector.core.mvtec import read_category

    write_demo_dataset(tmp_path, "fabric", n_train=2, n_test_good=2, n_test_bad=6, size=64)
    cat = read_category(tmp_path, "fabric")
    assert len(cat.train) == 2 and len(cat.test) == 8
    assert sum(t.label for t in cat.test) == 6
    assert {t.defect_type for t in cat.test if t.label} == set(PRODUCT_DEFECTS["fabric"])
