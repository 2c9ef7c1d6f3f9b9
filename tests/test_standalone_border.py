"""The standalone map is weighted down towards the image's edges (engine v6, `border_weight`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inspector.core.errors import InspectorError
from inspector.engines.standalone import BORDER_MARGIN, STATE_JSON, StandaloneModel, border_ramp
from test_standalone_model import FAST, texture, with_blob


def test_the_ramp_runs_from_the_edge_weight_to_one_at_the_margin():
    ramp = border_ramp((0, 0, 200, 400), (200, 400), (100, 200), 0.75)  # half scale: 64 image px margin
    assert ramp.shape == (100, 200) and ramp.dtype == np.float32
    assert ramp[0, 100] == pytest.approx(0.75, abs=0.01) and ramp[50, 0] == pytest.approx(0.75, abs=0.01)
    assert ramp[int(BORDER_MARGIN), 100] == pytest.approx(1.0) and ramp[50, 100] == 1.0
    middle = ramp[:50, 100]
    assert np.all(np.diff(middle[:int(BORDER_MARGIN)]) > 0)  # rising, linearly
    # a tile seam is not an edge: the right tile of two only ramps at the image's own edges
    right = border_ramp((0, 180, 200, 400), (200, 400), (100, 110), 0.5)
    assert right[50, 0] == 1.0 and right[50, -1] == pytest.approx(0.5, abs=0.01)


def test_good_edges_score_less_and_an_edge_defect_is_still_found():
    refs = [texture(s) for s in range(6)]
    plain = StandaloneModel({**FAST, "border_weight": 1.0})
    plain.fit(refs)
    weighted = StandaloneModel(FAST)  # the default weight, 0.75
    weighted.fit(refs)
    image = texture(300)
    (s1, m1), = plain.score([image])
    (s2, m2), = weighted.score([image])
    inner = (slice(40, -40), slice(40, -40))
    np.testing.assert_allclose(m2[inner], m1[inner], rtol=1e-5)  # the interior is unchanged
    assert m2[0, 128] == pytest.approx(0.75 * m1[0, 128], rel=0.03)
    assert s2 <= s1
    goods = [s for s, _ in weighted.score([texture(s) for s in range(100, 104)])]
    (edge_score, edge_map), = weighted.score([with_blob(texture(201), 128, 6, 9)])  # on the left edge
    assert edge_score > max(goods)
    peak = np.unravel_index(np.argmax(edge_map), edge_map.shape)
    assert abs(peak[0] - 128) <= 12 and peak[1] <= 20


def test_a_version_5_state_is_refused(tmp_path):
    model = StandaloneModel(FAST)
    model.fit([texture(1)])
    model.save(tmp_path)
    meta = json.loads((tmp_path / STATE_JSON).read_text())
    meta["version"] = "5"  # same arrays, but its thresholds were set on maps without the border weight
    (tmp_path / STATE_JSON).write_text(json.dumps(meta))
    with pytest.raises(InspectorError, match="version 5.*fit the product again"):
        StandaloneModel.load(tmp_path)
