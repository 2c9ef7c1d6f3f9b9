"""StandaloneModel.evidence (used by the trained local head) agrees with score() exactly."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from inspector.engines.standalone import StandaloneModel
from inspector.engines.standalone_parts.features import CHANNELS_PER_SCALE, image_lightness
from inspector.generate.procedural import render_good


@pytest.mark.parametrize("side", [(96, 96), (300, 200)])  # one tile; several tiles
def test_evidence_gives_score_and_map_exactly_and_the_channels(side):
    refs = [render_good("washer", np.random.default_rng(i), 96) for i in range(4)]
    model = StandaloneModel({"resolution": 64, "memory_size": 256, "max_candidates": 4096, "tile_px": 128})
    model.fit(refs)
    image = render_good("washer", np.random.default_rng(9), max(side))[:side[0], :side[1]]
    score, amap = model.score([image])[0]
    s, m, ev = model.evidence(image)
    assert s == score and np.array_equal(m, amap)
    assert ev.dtype == np.float32 and ev.shape[0] == 2 + len(model.group_sizes) + CHANNELS_PER_SCALE == 14
    layout = model._layout_for(*side)
    assert len(layout.boxes) == (1 if side == (96, 96) else 6)
    if len(layout.boxes) == 1:
        assert ev.shape[1:] == layout.grid_hw
        gain = model._gain(image_lightness(image))
        grid = model._search.anomaly(model._query(image, layout, layout.boxes[0], gain))
        assert np.allclose(ev[0].ravel(), grid, atol=1e-5)
    assert np.all(ev >= 0) and np.isfinite(ev).all()
