"""The generator contract: every rule-based kind on grey/colour, 64 px and 4000x3000 images;
masks are exactly the changed pixels; same seed, same bytes; foreground only; registry; and
engines do not import the generator."""

from __future__ import annotations

import ast
import functools
import json
from pathlib import Path

import numpy as np
import pytest

from inspector.core.errors import InspectorError
from inspector.generate.contract import CHANGE_TOLERANCE, DefectSpec, GenerationContext, change_map
from inspector.generate.registry import generate, get_method, methods
from inspector.generate.rules import DEFECT_KINDS, kinds_for_word

PKG = Path(__file__).resolve().parents[1] / "inspector"


@functools.lru_cache(maxsize=None)
def _image(look: str, h: int, w: int, seed: int = 0) -> np.ndarray:
    """A shaded surface with fine noise; grey has three equal channels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
    img = np.stack([90 + 80 * xx, 120 + 40 * yy, 60 + 50 * xx * yy], -1)
    img += rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    if look == "grey":
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    return np.clip(img, 0, 255).astype(np.uint8)


def _disc(size: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A bright textured disc on a dark background; returns (image, its foreground)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    fg = (xx - 0.52) ** 2 + (yy - 0.48) ** 2 < 0.3 ** 2
    bg = np.stack([40 + 30 * xx, 42 + 30 * xx, 50 + 30 * xx], -1)
    obj = np.array([200, 170, 120]) * (0.9 + 0.1 * np.sin(xx * 60))[..., None]
    img = np.where(fg[..., None], obj, bg) + rng.normal(0, 3, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8), fg


def _check_exact(before: np.ndarray, sample, allowed: np.ndarray | None = None) -> None:
    """The contract: mask == pixels changed beyond the tolerance, nothing else changed."""
    out, mask = sample.image, sample.mask
    assert out.shape == before.shape and out.dtype == np.uint8
    assert mask.shape == before.shape[:2] and mask.dtype == bool
    change = change_map(before, out)
    assert mask.any(), "the sample claims no defect"
    assert np.array_equal(mask, change > CHANGE_TOLERANCE), "mask differs from the changed pixels"
    assert np.array_equal(out[~mask], before[~mask]), "pixels outside the mask changed"
    assert change[mask].mean() >= 8, f"mean change {change[mask].mean():.1f} grey levels is invisible"
    if allowed is not None:
        assert not (mask & ~allowed).any(), "a defect left the allowed region"
    json.dumps(sample.recipe)


@pytest.mark.parametrize("look", ["grey", "colour"])
@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_every_kind_on_a_64_px_image(kind, look):
    img = _image(look, 64, 64)
    for seed in range(3):
        sample = generate("rules", img, None, DefectSpec(kind=kind), seed)
        _check_exact(img, sample)
        assert sample.mask.mean() <= 0.3
        assert sample.recipe["defects"][0]["kind"] == kind


@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_every_kind_on_a_4000x3000_image(kind):
    img = _image(("grey", "colour")[DEFECT_KINDS.index(kind) % 2], 3000, 4000)  # both looks, half the time
    sample = generate("rules", img, None, DefectSpec(kind=kind), 5)
    _check_exact(img, sample)
    assert 0.0002 <= sample.mask.mean() <= 0.05  # sizes follow the image, not fixed pixels


def test_same_seed_same_bytes_and_the_recipe_remakes_the_sample():
    img, fg = _disc(256)
    other, other_fg = _disc(256, seed=9)
    ctx = GenerationContext(sources=[(other, other_fg)])
    a = generate("rules", img, fg, DefectSpec(word="dent", count=2), 11, ctx)
    r = a.recipe
    again = generate(r["method"], img, fg, DefectSpec(**r["defect"]), r["seed"],
                     GenerationContext(sources=[(other, other_fg)], params=r["params"]))
    assert a.image.tobytes() == again.image.tobytes() and np.array_equal(a.mask, again.mask)
    assert again.recipe == r
    for kind in DEFECT_KINDS:
        x = generate("rules", img, fg, DefectSpec(kind=kind), 3, ctx)
        y = generate("rules", img, fg, DefectSpec(kind=kind), 3, ctx)
        z = generate("rules", img, fg, DefectSpec(kind=kind), 4, ctx)
        assert x.image.tobytes() == y.image.tobytes(), kind
        assert x.image.tobytes() != z.image.tobytes(), kind


@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_a_foreground_only_image_never_gets_a_background_defect(kind):
    img, fg = _disc(192)
    other, other_fg = _disc(192, seed=5)
    ctx = GenerationContext(sources=[(other, other_fg)])
    for seed in range(6):
        sample = generate("rules", img, fg, DefectSpec(kind=kind, scale=1.5), seed, ctx)
        _check_exact(img, sample, allowed=fg)
        assert np.array_equal(sample.image[~fg], img[~fg])


def test_a_drawn_region_holds_the_defect():
    img, fg = _disc(256)
    region = np.zeros_like(fg)
    region[100:150, 110:160] = True
    for kind in DEFECT_KINDS:
        sample = generate("rules", img, fg, DefectSpec(kind=kind), 1, GenerationContext(region=region))
        _check_exact(img, sample, allowed=region & fg)


def test_two_defects_per_sample_and_the_scale_parameter():
    img = _image("colour", 256, 256)
    one = generate("rules", img, None, DefectSpec(kind="stain", count=1), 2)
    two = generate("rules", img, None, DefectSpec(kind="stain", count=2), 2)
    assert len(two.recipe["defects"]) == 2 and two.mask.sum() > one.mask.sum()
    small = [generate("rules", img, None, DefectSpec(kind="dent", scale=0.6), s).mask.sum() for s in range(5)]
    large = [generate("rules", img, None, DefectSpec(kind="dent", scale=1.8), s).mask.sum() for s in range(5)]
    assert np.median(large) > 2 * np.median(small)


def test_poisson_uses_normal_clone_on_objects_and_mixed_clone_on_textures():
    disc, fg = _disc(256)
    texture = _image("colour", 256, 256)
    obj = generate("rules", disc, fg, DefectSpec(kind="poisson"), 0, GenerationContext(sources=[(disc[::-1].copy(), fg[::-1].copy())]))
    tex = generate("rules", texture, np.ones((256, 256), bool), DefectSpec(kind="poisson"), 0)
    assert obj.recipe["defects"][0]["clone"] == "normal" and obj.recipe["defects"][0]["source"] == "reference:0"
    assert tex.recipe["defects"][0]["clone"] == "mixed"
    forced = generate("rules", texture, None, DefectSpec(kind="poisson"), 0,
                      GenerationContext(params={"poisson_mode": "normal"}))
    assert forced.recipe["defects"][0]["clone"] == "normal"


def test_missing_material_on_an_object_shows_the_background():
    img, fg = _disc(256)
    bg_level = float(img[~fg].mean())
    sample = generate("rules", img, fg, DefectSpec(kind="missing"), 3)
    _check_exact(img, sample, allowed=fg)
    assert sample.recipe["defects"][0]["style"] == "chipped edge"
    assert abs(float(sample.image[sample.mask].mean()) - bg_level) < 25  # the chip looks like the table


def test_perlin_texture_can_borrow_another_reference():
    img = _image("colour", 128, 128)
    other = np.full((128, 128, 3), 30, np.uint8)
    labels = {generate("rules", img, None, DefectSpec(kind="perlin_texture"), s,
                       GenerationContext(sources=[(other, None)])).recipe["defects"][0]["texture"]
              for s in range(30)}
    assert "reference:0" in labels and {"noise", "stripes"} & labels


def test_defect_words_pick_kinds():
    assert kinds_for_word("scratch") == ("scratch",)
    assert kinds_for_word("Dented surface") == ("dent",)
    assert kinds_for_word("missing piece") == ("missing",)
    assert kinds_for_word("poisson") == ("poisson",)
    assert kinds_for_word("") == DEFECT_KINDS and kinds_for_word("zorbified") == DEFECT_KINDS
    img = _image("colour", 128, 128)
    assert generate("rules", img, None, DefectSpec(word="crack"), 0).recipe["defects"][0]["kind"] == "crack"


def test_registry_lists_methods_with_availability():
    ids = [m.id for m in methods()]
    assert ids[0] == "rules" and len(ids) == len(set(ids))
    rules = get_method("rules")
    assert rules.availability().ok and set(rules.kinds) == set(DEFECT_KINDS)
    with pytest.raises(InspectorError, match="unknown generation method 'cut2' — use one of: rules"):
        get_method("cut2")


def test_bad_input_is_a_clear_error():
    img, fg = _disc(128)
    with pytest.raises(InspectorError, match="smaller than the generator's minimum"):
        generate("rules", img[:10, :10], None, DefectSpec(), 0)
    with pytest.raises(InspectorError, match="uint8 RGB"):
        generate("rules", img[..., 0], None, DefectSpec(), 0)
    outside = ~fg
    with pytest.raises(InspectorError, match="outside the product's foreground"):
        generate("rules", img, fg, DefectSpec(), 0, GenerationContext(region=outside & (np.arange(128) < 5)[:, None]))
    with pytest.raises(InspectorError, match="count of defects"):
        generate("rules", img, fg, DefectSpec(count=0), 0)
    with pytest.raises(InspectorError, match="unknown rule-based defect kind"):
        generate("rules", img, fg, DefectSpec(kind="warp"), 0)
    with pytest.raises(InspectorError, match="foreground mask is 64x64"):
        generate("rules", img, np.ones((64, 64), bool), DefectSpec(), 0)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(("." * node.level) + node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_engines_do_not_import_the_generator():
    offenders = [str(p.relative_to(PKG)) for p in (PKG / "engines").rglob("*.py")
                 if any("generate" in name.split(".") for name in _imports(p))]
    assert offenders == []


def test_recall_estimate_uses_the_defect_maker_the_services_pass():
    from inspector.engines.calibrate import fit_and_calibrate
    from inspector.generate.rules import recall_defect

    class MeanDiff:  # a tiny real model: distance to the mean reference
        version = "t"

        def fit(self, images, cancel=None):
            self.mean = np.mean([i.astype(np.float32) for i in images], axis=0)

        def score(self, images):
            out = []
            for i in images:
                m = np.abs(i.astype(np.float32) - self.mean).mean(axis=2)
                out.append((float(m.max()), m))
            return out

    refs = [_disc(96, seed=s)[0] for s in range(6)]
    _, without = fit_and_calibrate(MeanDiff, refs, 0.01)
    _, with_maker = fit_and_calibrate(MeanDiff, refs, 0.01, defect_maker=recall_defect)
    assert without.synthetic_recall is None
    assert with_maker.synthetic_recall is not None and 0.0 <= with_maker.synthetic_recall <= 1.0
    assert with_maker.threshold == without.threshold
