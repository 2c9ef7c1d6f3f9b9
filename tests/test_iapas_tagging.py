"""Zero-shot CLIP tag suggestions for IAP-AS, with a tiny random open_clip model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("open_clip")

from inspector.core.errors import EngineUnavailable, InspectorError  # noqa: E402
from inspector.engines.iapas.prompts import load_vocabulary, vocabulary_prompts  # noqa: E402
from inspector.engines.iapas.tagging import candidates, suggest_tags  # noqa: E402


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from weights_fixtures import TINY_CLIP_CONFIG, build_tiny_open_clip

    path = build_tiny_open_clip(tmp_path_factory.mktemp("clip") / "open_clip_pytorch_model.bin")
    return ("tiny-vit", path, TINY_CLIP_CONFIG)


def test_suggestions_are_vocabulary_candidates_and_reproducible(tiny_clip):
    image = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    tags = suggest_tags(image, tiny_clip)
    cands = candidates()
    assert set(tags) == {"material", "object", "colour", "surface"}
    for kind, s in tags.items():
        assert s.kind == kind and s.value in cands[kind] and 0 < s.probability <= 1
        assert len(s.alternatives) == 3 and all(p <= s.probability for _, p in s.alternatives)
    again = suggest_tags(image, tiny_clip)
    assert {k: v.value for k, v in again.items()} == {k: v.value for k, v in tags.items()}
    # a suggested material and object pick their own vocabulary prompts
    voc = load_vocabulary()
    prompts = vocabulary_prompts(tags["object"].value, {"material": tags["material"].value}, voc)
    material = next(e for e in voc.materials if e.key == tags["material"].value)
    assert set(material.defects) <= set(prompts)


def test_suggestion_errors(tiny_clip, tmp_path):
    with pytest.raises(InspectorError, match="uint8 RGB"):
        suggest_tags(np.zeros((4, 4), np.uint8), tiny_clip)
    with pytest.raises(EngineUnavailable):
        suggest_tags(np.zeros((8, 8, 3), np.uint8), ("tiny-vit", tmp_path / "nope.bin", tiny_clip[2]))
