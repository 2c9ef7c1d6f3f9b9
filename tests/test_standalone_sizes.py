"""The weights-free engine on products whose images come in many sizes, shot at other
exposures, and a saved state of an older engine version."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inspector.core.errors import InspectorError
from inspector.engines.standalone import StandaloneModel
from test_standalone_model import FAST, texture, with_blob

# crops of one surface at one pixel scale, in sizes and aspect ratios that differ (like
# magnetic_tile's 177 sizes): the median size is square, and no test size is a reference size
REF_SIZES = [(120, 200), (200, 120), (160, 160), (96, 256), (256, 96), (200, 200), (144, 144)]
TEST_SIZES = [(320, 320), (90, 90), (110, 300), (300, 110)]


@pytest.fixture(scope="module")
def crops_model() -> StandaloneModel:
    model = StandaloneModel(FAST)
    model.fit([texture(s, h, w) for s, (h, w) in enumerate(REF_SIZES)])
    return model


def test_references_and_tests_of_other_sizes_keep_one_pixel_scale(crops_model):
    goods = crops_model.score([texture(100 + i, h, w) for i, (h, w) in enumerate(TEST_SIZES)])
    assert [m.shape for _, m in goods] == TEST_SIZES
    at_ref_sizes = crops_model.score([texture(300 + i, h, w) for i, (h, w) in enumerate(REF_SIZES)])
    # stretched to one working size, the 90 x 90 crop scored 1.8x the worst good crop of a reference size
    assert max(s for s, _ in goods) < 1.25 * max(s for s, _ in at_ref_sizes)
    bad_img = with_blob(texture(200, 320, 320), 200, 100, 7)
    (bad, bad_map), = crops_model.score([bad_img])
    # a larger crop is more of the same surface, not a zoom: it must look as normal as any other
    assert bad > 1.3 * max(s for s, _ in goods)
    peak = np.unravel_index(np.argmax(bad_map), bad_map.shape)
    assert abs(peak[0] - 200) <= 10 and abs(peak[1] - 100) <= 10


def test_same_view_at_another_resolution_is_brought_to_the_reference_size():
    refs = [texture(s, 128, 192) for s in range(3)]  # one camera view: all references one size
    model = StandaloneModel(FAST)
    model.fit(refs)
    assert model.fixed_view
    assert model._layout_for(256, 384).work_hw == model.layout.work_hw  # 2x the pixels, same view
    assert model._layout_for(192, 128).work_hw == model.layout.work_hw[::-1]  # rotated: pixel scale


def less_light(image: np.ndarray, k: float) -> np.ndarray:
    """The same scene with k times the light: a gain in linear light, sRGB-encoded again."""
    v = image.astype(np.float64) / 255
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4) * k
    out = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def test_a_darker_shot_of_a_good_part_is_normalised():
    refs = [texture(s) for s in range(4)]
    dark = less_light(texture(50), 0.4)
    scores = {}
    for on in (1, 0):
        model = StandaloneModel({**FAST, "normalise_exposure": on})
        model.fit(refs)
        (good, _), (shaded, _), (bad, _) = model.score([texture(51), dark, with_blob(texture(52), 90, 90, 8)])
        scores[on] = (good, shaded, bad)
    good, shaded, bad = scores[1]
    assert shaded < bad and shaded < 1.5 * good
    assert scores[0][1] > 2 * scores[0][0]  # without it, the darker shot looks defective everywhere


def test_a_state_of_an_older_engine_version_is_refused(tmp_path):
    model = StandaloneModel(FAST)
    model.fit([texture(1)])
    model.save(tmp_path)
    StandaloneModel.load(tmp_path)  # the current version loads
    meta = json.loads((tmp_path / "standalone.json").read_text())
    meta["version"] = "1"
    for key in ("scale", "fixed_view", "lightness"):  # what version 1 did not save
        meta.pop(key)
    (tmp_path / "standalone.json").write_text(json.dumps(meta))
    with pytest.raises(InspectorError, match="version 1.*fit the product again"):
        StandaloneModel.load(tmp_path)
    meta["version"] = model.version  # same version number but fields missing: refused, no traceback
    (tmp_path / "standalone.json").write_text(json.dumps(meta))
    with pytest.raises(InspectorError, match="fit the product again"):
        StandaloneModel.load(tmp_path)
