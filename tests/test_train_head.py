"""The evidence head: untrained it ranks like the standalone engine; trained heads of another
format are refused with "train it again"."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from inspector.core.errors import InspectorError
from inspector.engines.local import LocalModel
from inspector.generate.procedural import render_good
from inspector.generate.rules import make_defect
from inspector.train.data import fit_fold_scorers
from inspector.train.head import HEAD_VERSION, build_head

SETTINGS = {"resolution": 64, "memory_size": 256, "max_candidates": 4096}


@pytest.fixture(scope="module")
def fitted():
    refs = [render_good("washer", np.random.default_rng(i), 64) for i in range(5)]
    scorers = fit_fold_scorers(refs, list(range(4)), SETTINGS)
    n_in = 2 + scorers.full.evidence(refs[0])[2].shape[0]
    meta = {"norm": [list(r) for r in scorers.norm], "work_hw": list(scorers.hw), "width": 4, "n_in": n_in,
            "head_version": HEAD_VERSION}
    model = LocalModel(SETTINGS)
    model.set_head(build_head(n_in, 4).state_dict(), meta)
    model.fit(refs[:4])
    return model, meta


def test_untrained_head_ranks_images_and_pixels_like_the_engine(fitted):
    model, _ = fitted
    rng = np.random.default_rng(3)
    images = [render_good("washer", np.random.default_rng(20 + i), 64) for i in range(4)]
    images += [make_defect(im, rng, kind="stain")[0] for im in images[:3]]
    images.append(render_good("washer", np.random.default_rng(30), 80)[:70])  # another size
    local, engine = model.score(images), model.standalone.score(images)
    assert np.array_equal(np.argsort([s for s, _ in local]), np.argsort([s for s, _ in engine]))
    for (_, lm), (_, em) in zip(local, engine):
        assert lm.shape == em.shape
        order = np.argsort(em.ravel(), kind="stable")
        assert np.all(np.diff(lm.ravel()[order]) >= -1e-5)  # monotone in the engine's map


def test_head_of_another_format_is_refused(fitted):
    model, meta = fitted
    head = build_head(meta["n_in"], 4).state_dict()
    with pytest.raises(InspectorError, match="older version.*train it again"):
        LocalModel(SETTINGS).set_head(head, {**meta, "head_version": 1})
    with pytest.raises(InspectorError, match="(?s)do not fit its network.*train it again"):
        LocalModel(SETTINGS).set_head(head, {**meta, "n_in": meta["n_in"] + 1})
