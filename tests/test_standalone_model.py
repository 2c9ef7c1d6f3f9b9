"""The weights-free engine: shapes, tiling, save/load, a planted defect, cancel, real data."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.core.errors import Cancelled, InspectorError
from inspector.engines.standalone import StandaloneModel

FAST = {"memory_size": 512}


def texture(seed: int, h: int = 256, w: int = 256) -> np.ndarray:
    """A woven-looking colour texture: stripes plus blurred noise, uint8 RGB (h, w, 3)."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 2)
    stripes = np.sin(xx / 3.0 + phase[0]) * np.sin(yy / 5.0 + phase[1])
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5)
    lum = 120 + 25 * stripes + 40 * noise
    rgb = np.stack([lum * 1.1, lum * 0.9, lum * 0.6], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def with_blob(image: np.ndarray, cy: int, cx: int, r: int) -> np.ndarray:
    out = image.copy()
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    out[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = (40, 60, 150)
    return out


@pytest.fixture(scope="module")
def fitted() -> StandaloneModel:
    model = StandaloneModel(FAST)
    model.fit([texture(s) for s in range(4)])
    return model


@pytest.mark.parametrize("shape", [(256, 256), (300, 500), (640, 480), (257, 1001)])
def test_score_shapes_and_dtypes(fitted, shape):
    h, w = shape
    img = np.ascontiguousarray(np.resize(texture(10), (h, w, 3)))
    (score, amap), = fitted.score([img])
    assert isinstance(score, float) and np.isfinite(score)
    assert amap.shape == (h, w) and amap.dtype == np.float32
    assert np.isfinite(amap).all()
    assert amap.max() <= score + 1e-4  # the image score is the max of the smoothed map


def test_grey_images_and_one_reference():
    grey = texture(1)[..., :1].repeat(3, axis=2)
    model = StandaloneModel(FAST)
    model.fit([grey])
    out = model.score([texture(2)[..., 0], grey])  # a 2-D grey array is accepted too
    assert [m.shape for _, m in out] == [(256, 256), (256, 256)]
    assert out[1][0] < out[0][0]  # its own reference is closer than a colour texture


def test_rotated_camera_keeps_the_pixel_scale():
    refs = [texture(s, 200, 320) for s in range(3)]
    model = StandaloneModel(FAST)
    model.fit(refs)
    img = texture(30, 200, 320)
    (s_wide, m_wide), (s_tall, m_tall) = model.score([img, np.ascontiguousarray(img.transpose(1, 0, 2))])
    assert m_tall.shape == (320, 200)
    assert s_tall == pytest.approx(s_wide, rel=1e-3)  # rotation-invariant features, no squeezing
    np.testing.assert_allclose(m_tall, m_wide.T, rtol=1e-3, atol=1e-3)


def test_large_images_use_tiles():
    big = np.ascontiguousarray(np.tile(texture(3), (6, 8, 1))[:1536, :2048])
    model = StandaloneModel(FAST)
    model.fit([big])
    assert len(model.layout.boxes) == 4  # 2 x 2 tiles for 2048 x 1536 at tile_px 1024
    (score, amap), = model.score([with_blob(big, 800, 1500, 12)])
    assert amap.shape == (1536, 2048) and amap.dtype == np.float32
    peak = np.unravel_index(np.argmax(amap), amap.shape)
    assert abs(peak[0] - 800) < 40 and abs(peak[1] - 1500) < 40


def test_line_scan_strips_are_tiled_along_their_length():
    """A line-scan camera's strips (64 x 3000 px): cut into tiles along the strip, each worked at
    about its own pixel scale (not squashed to a square), and a small spot is found where it is."""
    model = StandaloneModel(FAST)
    model.fit([texture(s, 64, 3000) for s in range(3)])
    assert len(model.layout.boxes) == 3 and model.layout.work_hw[0] >= 48  # the strip keeps its height
    (good, _), (bad, amap) = model.score([texture(11, 64, 3000), with_blob(texture(12, 64, 3000), 32, 2100, 5)])
    assert bad > 2 * good
    peak = np.unravel_index(np.argmax(amap), amap.shape)
    assert abs(peak[0] - 32) <= 8 and abs(peak[1] - 2100) <= 8

def test_planted_defect_scores_higher_and_map_peaks_on_it():
    model = StandaloneModel()
    model.fit([texture(s) for s in range(8)])
    good = model.score([texture(s) for s in range(100, 104)])
    (bad_score, bad_map), = model.score([with_blob(texture(200), 90, 170, 9)])
    assert bad_score > max(s for s, _ in good)
    peak = np.unravel_index(np.argmax(bad_map), bad_map.shape)
    assert abs(peak[0] - 90) <= 12 and abs(peak[1] - 170) <= 12


def test_save_load_round_trip(fitted, tmp_path):
    fitted.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["standalone.json", "standalone.npz"]
    loaded = StandaloneModel.load(tmp_path, fitted.settings)
    imgs = [texture(20), with_blob(texture(21), 50, 50, 8)]
    for (s1, m1), (s2, m2) in zip(fitted.score(imgs), loaded.score(imgs)):
        assert s1 == s2
        np.testing.assert_array_equal(m1, m2)
    with pytest.raises(InspectorError, match="fit the product again"):
        StandaloneModel.load(tmp_path, {"resolution": 320})


def test_cancel_and_progress():
    refs = [texture(s) for s in range(3)]
    with pytest.raises(Cancelled):
        StandaloneModel(FAST).fit(refs, cancel=lambda: True)
    calls = []
    with pytest.raises(Cancelled):  # cancelled while the memory bank is built
        StandaloneModel(FAST).fit(refs, cancel=lambda: (calls.append(1), len(calls) > 5)[1])
    seen = []
    StandaloneModel(FAST).fit(refs, progress=lambda d, t, m: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1] and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))


def test_settings_and_misuse():
    model = StandaloneModel({"object_name": "cookie", "resolution": 320})  # other keys ignored
    assert model.params["resolution"] == 320
    with pytest.raises(InspectorError, match="resolution"):
        StandaloneModel({"resolution": "big"})
    with pytest.raises(InspectorError, match="stride"):
        StandaloneModel({"stride": 0})
    with pytest.raises(InspectorError, match="not fitted"):
        model.score([texture(0)])
    with pytest.raises(InspectorError, match="at least 1"):
        model.fit([])


@pytest.mark.slow
def test_real_cookie_all_references(real_data):
    from sklearn.metrics import roc_auc_score

    from inspector.core.image_io import load_image

    root = real_data / "cookie"
    model = StandaloneModel()
    model.fit([load_image(p) for p in sorted((root / "train" / "good").glob("*.png"))])
    scores, labels = [], []
    for folder in sorted((root / "test").iterdir()):
        for path in sorted(folder.glob("*.png")):
            (score, _), = model.score([load_image(path)])
            scores.append(score)
            labels.append(int(folder.name != "good"))
    assert roc_auc_score(labels, scores) >= 0.95
