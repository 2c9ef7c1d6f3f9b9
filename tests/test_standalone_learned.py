"""The standalone engine's filters learned from the references (PCA of lightness patches)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

pytest.importorskip("torch")

from inspector.core.errors import InspectorError
from inspector.engines.standalone import STATE_ARRAYS, StandaloneModel
from inspector.engines.standalone_parts.learned import FILTER_PX, filter_energy, fit_filters, sample_patches

SMALL = {"resolution": 128, "memory_size": 1024, "max_candidates": 8192}
BOX = (44, 44, 84, 84)  # where a defect's grain runs another way


def grain(seed: int, angle: float = 0.0, period: float = 6.0, side: int = 128) -> np.ndarray:
    """A surface with straight grain (machined lay, weave) along x, random phase and sensor
    noise; with an angle, the grain inside BOX runs at that angle instead."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side].astype(np.float32)

    def wave(a: float) -> np.ndarray:
        return np.sin(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / period + rng.uniform(0, 2 * np.pi))

    img = wave(0.0)
    if angle:
        y0, x0, y1, x1 = BOX
        img[y0:y1, x0:x1] = wave(angle)[y0:y1, x0:x1]
    grey = np.clip(128 + 60 * img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, 2)


def test_filters_are_principal_patterns_grouped_by_symmetry():
    rng = np.random.default_rng(0)
    lum = grain(1)[..., 0].astype(np.float32) / 255
    filters, groups = fit_filters([sample_patches(lum, 4000, rng)], 8)
    flat = filters.reshape(len(filters), -1)
    assert len(filters) >= 8 and groups.sum() == len(filters) and set(groups) <= {1, 2}
    assert np.allclose(flat @ flat.T, np.eye(len(filters)), atol=1e-5)  # orthonormal
    assert np.allclose(flat.sum(1), 0, atol=1e-4)  # no response to a flat shade
    # quarter turns and mirroring map each group onto itself: its energy is unchanged
    grid = (16, 16)
    e = filter_energy(lum, filters, groups, grid)
    assert e.shape == (16, 16, len(groups))
    turned = filter_energy(np.ascontiguousarray(np.rot90(lum)), filters, groups, grid)
    assert np.allclose(np.rot90(e), turned, atol=1e-4)
    # a tile smaller than a filter still gives patches
    assert sample_patches(lum[:4, :5], 10, rng).shape == (10, FILTER_PX * FILTER_PX)


def test_grain_running_another_way_is_found():
    """The handcrafted channels are rotation invariant, so grain at 45 degrees looks much like the
    references' (they give the defect about 2x the good images' score, from its border); the
    learned filters' energies tell the two directions apart (about 10x)."""
    model = StandaloneModel(SMALL)
    model.fit([grain(i) for i in range(6)])
    assert len(model.filters) >= 16 * 4 and model.group_sizes[1] == len(model.filter_groups)
    good = [model.score([grain(100 + i)])[0][0] for i in range(3)]
    bad = [model.score([grain(200 + i, angle=np.pi / 4)])[0] for i in range(3)]
    assert min(s for s, _ in bad) > 4 * max(good)
    for _, amap in bad:  # and the map shows where
        assert amap[52:76, 52:76].mean() > 4 * np.percentile(amap[:32], 99)


def test_the_pyramid_banks_see_a_coarse_grain():
    """Grain three times as long as a level-0 filter, running another way in BOX: the banks learned
    on the half and quarter images tell it apart about twice as clearly as one level does."""
    ratios = {}
    for levels in (1, 4):
        model = StandaloneModel({**SMALL, "learned_levels": levels})
        model.fit([grain(i, period=20.0) for i in range(6)])
        good = max(model.score([grain(100 + i, period=20.0)])[0][0] for i in range(3))
        bad = min(model.score([grain(200 + i, angle=np.pi / 4, period=20.0)])[0][0] for i in range(3))
        ratios[levels] = bad / good
    assert ratios[4] > 1.5 * ratios[1], ratios


def test_filters_are_learned_per_product_and_saved(tmp_path):
    fine, coarse = StandaloneModel(SMALL), StandaloneModel(SMALL)
    fine.fit([grain(i, period=4.0) for i in range(3)])
    coarse.fit([grain(i, period=12.0) for i in range(3)])
    assert not np.allclose(fine.filters[0], coarse.filters[0], atol=0.05)
    fine.save(tmp_path)
    with np.load(tmp_path / STATE_ARRAYS, allow_pickle=False) as arrays:
        assert np.array_equal(arrays["filters"], fine.filters)
        assert np.array_equal(arrays["filter_levels"], fine.filter_levels)
    assert set(fine.filter_levels) == {0, 1, 2, 3}  # one bank per pyramid level, saved with its level
    loaded = StandaloneModel.load(tmp_path)
    image = grain(7, angle=np.pi / 4)
    (s0, m0), = fine.score([image])
    (s1, m1), = loaded.score([image])
    assert s0 == s1 and np.array_equal(m0, m1)
    # a state without its filters (or with other ones) is refused, not scored wrongly
    with np.load(tmp_path / STATE_ARRAYS, allow_pickle=False) as arrays:
        kept = {k: arrays[k] for k in arrays.files}
    for broken in ({k: v for k, v in kept.items() if k != "filters"},
                   {**kept, "filter_groups": kept["filter_groups"][:-1]},
                   {**kept, "filter_levels": kept["filter_levels"][::-1]},
                   {k: v for k, v in kept.items() if k != "filter_levels"}):
        buf = io.BytesIO()
        np.savez(buf, **broken)
        (tmp_path / STATE_ARRAYS).write_bytes(buf.getvalue())
        with pytest.raises(InspectorError, match="fit the product again"):
            StandaloneModel.load(tmp_path)
    assert zipfile.is_zipfile(tmp_path / STATE_ARRAYS)


def test_learned_filters_can_be_turned_off():
    model = StandaloneModel({**SMALL, "learned_filters": 0})
    model.fit([grain(i) for i in range(3)])
    assert model.filters.shape == (0, FILTER_PX, FILTER_PX) and model.group_sizes[1] == 0
    s, amap = model.score([grain(9)])[0]
    assert np.isfinite(s) and np.isfinite(amap).all()
    _, _, ev = model.evidence(grain(9))
    assert ev.shape[0] == 14 and np.isfinite(ev).all()


def test_a_version_4_state_is_refused(tmp_path):
    import json

    from inspector.engines.standalone import STATE_JSON

    model = StandaloneModel(SMALL)
    model.fit([grain(i) for i in range(2)])
    model.save(tmp_path)
    meta = json.loads((tmp_path / STATE_JSON).read_text())
    meta["version"] = "4"  # v4 had handcrafted mid scales and one filter bank: other dimensions
    (tmp_path / STATE_JSON).write_text(json.dumps(meta))
    with pytest.raises(InspectorError, match="version 4.*fit the product again"):
        StandaloneModel.load(tmp_path)
