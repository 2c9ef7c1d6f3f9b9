"""Aligned products (parts in a fixture): the engine finds that its references are aligned and then
matches each cell near its own place, so a part that is normal patch by patch but in the wrong
place (a misplaced component) is found; textures and parts placed anywhere are left alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inspector.core.errors import InspectorError
from inspector.engines.standalone import StandaloneModel

FAST = {"memory_size": 1024, "max_candidates": 16384}


def board(seed: int, swapped: bool = False, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A circuit-board-like part, 128 x 128: green board, a dark chip on the left and a round white
    pad on the right (`swapped`: the other way round, a mirror image of the part's layout)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.zeros((128, 128, 3), np.float32)
    img[:] = (40, 110, 60)
    img += cv2.GaussianBlur(rng.normal(0, 6, (128, 128)).astype(np.float32), (0, 0), 1.0)[..., None]
    dy, dx = shift
    chip_x, pad_x = (92, 36) if swapped else (36, 92)
    img[54 + dy:74 + dy, chip_x - 14 + dx:chip_x + 14 + dx] = (25, 25, 30)
    cv2.circle(img, (pad_x + dx, 64 + dy), 9, (230, 230, 220), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def placed_anywhere(seed: int) -> np.ndarray:
    """The same part on a uniform tray at a random place (no fixture)."""
    rng = np.random.default_rng(seed)
    tray = np.full((256, 256, 3), 90, np.uint8)
    y, x = rng.integers(0, 128, 2)
    tray[y:y + 128, x:x + 128] = board(seed)
    return tray


def test_a_part_in_a_fixture_is_aligned_and_swapped_components_are_found():
    refs = [board(s, shift=tuple(np.random.default_rng(s).integers(-2, 3, 2))) for s in range(8)]
    model = StandaloneModel(FAST)
    model.fit(refs)
    assert model.aligned and model.match_shift <= 0.1
    blind = StandaloneModel({**FAST, "position_weight": 0})
    blind.fit(refs)
    assert not blind.aligned
    good, misplaced = board(100), board(101, swapped=True)
    (g_aligned, _), (m_aligned, m_map) = model.score([good, misplaced])
    (g_blind, _), (m_blind, _) = blind.score([good, misplaced])
    # every patch of the swapped part, and its (rotation-invariant) surroundings, occur in the
    # references: only the aligned model sees the components in the wrong places
    assert m_aligned / g_aligned > 1.5 * (m_blind / g_blind)
    assert m_map[54:74, 78:106].mean() > 2 * m_map[5:25, 5:25].mean()


@pytest.mark.parametrize("make", [placed_anywhere, None], ids=["placed anywhere", "texture"])
def test_parts_placed_anywhere_and_textures_are_not_aligned(make):
    from test_standalone_model import texture

    refs = [make(s) if make else texture(s) for s in range(6)]
    model = StandaloneModel(FAST)
    model.fit(refs)
    assert not model.aligned and model.match_shift > 0.15


def test_one_reference_is_never_aligned():
    model = StandaloneModel(FAST)
    model.fit([board(0)])
    assert not model.aligned and model.match_shift == 1.0


def test_alignment_is_saved_and_a_version_2_state_is_refused(tmp_path):
    model = StandaloneModel(FAST)
    model.fit([board(s) for s in range(4)])
    model.save(tmp_path)
    loaded = StandaloneModel.load(tmp_path)
    assert loaded.aligned == model.aligned and loaded.match_shift == model.match_shift
    img = board(50)
    assert loaded.score([img])[0][0] == pytest.approx(model.score([img])[0][0], rel=1e-5)
    meta_path = tmp_path / "standalone.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = "2"
    del meta["aligned"], meta["match_shift"]  # what version 2 did not save
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(InspectorError, match="version 2.*fit the product again"):
        StandaloneModel.load(tmp_path)
