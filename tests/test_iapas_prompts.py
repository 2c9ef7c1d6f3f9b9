"""IAP-AS prompts: curated vocabulary by material and object kind, and a local causal LM."""

from __future__ import annotations

import pytest

from inspector.core.errors import EngineUnavailable, InspectorError
from inspector.engines.iapas.prompts import (build_prompt_set, llm_folder, load_vocabulary,
                                             names_object, parse_llm_words, vocabulary_prompts)


def test_vocabulary_matches_material_and_object_kind():
    voc = load_vocabulary()
    metal = vocabulary_prompts("bottle", {"material": "Stainless steel"}, voc)
    assert "rust spot on metal" in metal and "broken bottle rim" in metal  # alias + object kind
    assert "hole in fabric" not in metal
    assert metal.index("scratch on metal surface") < metal.index("scratch")  # phrases first
    generic = vocabulary_prompts("gizmo", {}, voc)
    assert generic[:3] == ["scratch on the gizmo", "crack in the gizmo", "stain on the gizmo"]
    assert len(set(metal)) == len(metal)


def test_prompt_set_is_deterministic_versioned_and_engineer_words_lead():
    a = build_prompt_set("cookie", {"material": "food"}, ["Burnt  Edge", "crack"])
    b = build_prompt_set("cookie", {"material": "food"}, ["Burnt  Edge", "crack"])
    assert a.prompts == b.prompts and a.version == b.version and len(a.version) == 12
    assert a.prompts[:2] == ["burnt edge", "crack"] and a.sources["burnt edge"] == "engineer"
    assert a.sources["burnt spot on the cookie"] == "vocabulary"
    c = build_prompt_set("cookie", {"material": "food"}, ["crack"])
    assert c.version != a.version
    edited = build_prompt_set("cookie", {}, [], explicit=["chip", " chip ", "bite mark"])
    assert edited.prompts == ["chip", "bite mark"] and set(edited.sources.values()) == {"edited"}


def test_names_object():
    assert names_object("bottle", "bottle") and names_object("the bottle", "glass bottle")
    assert not names_object("broken bottle", "bottle") and not names_object("", "bottle")


def test_vocabulary_errors_name_the_file(tmp_path, monkeypatch):
    bad = tmp_path / "voc.toml"
    bad.write_text("version = 1\n[generic]\ndefects = [3]\n", encoding="utf-8")
    with pytest.raises(InspectorError, match="voc.toml.*generic.*defects"):
        load_vocabulary(bad)
    monkeypatch.setenv("INSPECTOR_IAPAS_VOCABULARY", str(tmp_path / "none.toml"))
    with pytest.raises(InspectorError, match="vocabulary not found"):
        load_vocabulary()


def test_parse_llm_answer():
    text = "1. Scratch on the rim, dent; bottle\n2) rust-spot, a very long sentence about many things, is"
    assert parse_llm_words(text, "bottle") == ["scratch on the rim", "dent", "rust spot"]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    pytest.importorskip("transformers")
    from iapas_fixtures import build_causal_lm

    return build_causal_lm(tmp_path_factory.mktemp("lm") / "prompt-llm", seed=1)


def test_llm_prompts_from_a_tiny_causal_lm_are_deterministic(tiny_lm, tmp_path, monkeypatch):
    from inspector.engines.iapas.prompts import llm_words

    words = llm_words(tiny_lm, "bottle", {"material": "metal"})
    assert words and words == llm_words(tiny_lm, "bottle", {"material": "metal"})
    a = build_prompt_set("bottle", {"material": "metal"}, ["dent"], llm=str(tiny_lm))
    assert a.prompts[0] == "dent" and [p for p in a.prompts if a.sources[p] == "llm"] == words
    # "auto" finds <models folder>/prompt-llm; with none there, the vocabulary alone is used
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(tiny_lm.parent))
    assert llm_folder("auto") == tiny_lm
    assert build_prompt_set("bottle", {"material": "metal"}, ["dent"], llm="auto").version == a.version
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(tmp_path))
    assert llm_folder("auto") is None
    assert "llm" not in build_prompt_set("bottle", {}, [], llm="auto").sources.values()
    with pytest.raises(InspectorError, match="not a transformers model folder"):
        llm_folder(str(tmp_path / "nothing"))
    broken = tmp_path / "broken-lm"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    with pytest.raises(EngineUnavailable, match="causal LM in .* does not load"):
        llm_words(broken, "bottle", {})
