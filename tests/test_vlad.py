"""VLAD engine on a tiny random open_clip ViT saved in the real state-dict format.

The tiny model sits in a models folder described by a manifest, so the engine loads it through
`inspector.weights.loaders.load_open_clip(model_id)` exactly as it loads real CLIP weights.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

from inspector.core.errors import Cancelled, EngineUnavailable, InspectorError  # noqa: E402
from inspector.engines.vlad import VladModel, availability, requirements  # noqa: E402
from inspector.engines.vlad.backbone import resize_positional_embedding  # noqa: E402
from inspector.engines.vlad.memory import build_bank, nearest_distance  # noqa: E402
from inspector.engines.vlad.prompts import build_prompts, load_vocabulary  # noqa: E402

MODEL_ID = "tiny-clip-test"
TINY = {"embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 4, "width": 64, "head_width": 32, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}
WEIGHTS = "open_clip_pytorch_model.bin"


def _toml(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value).lower() if isinstance(value, bool) else str(value)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """(manifest path, models folder, weights file) of a tiny random CLIP ViT."""
    root = tmp_path_factory.mktemp("vlad")
    torch.manual_seed(0)
    model = open_clip.model.CLIP(**TINY)
    weights = root / "models" / MODEL_ID / WEIGHTS
    weights.parent.mkdir(parents=True)
    torch.save(model.state_dict(), weights)
    manifest = root / "manifest.toml"
    manifest.write_text(
        f'[[model]]\nid = "{MODEL_ID}"\ntitle = "Tiny CLIP"\nkind = "open_clip_state_dict"\n'
        f'engines = ["vlad"]\nlicence = "test"\nfiles = [{{ name = "{WEIGHTS}" }}]\n'
        f'source = {{ hf_repo = "test/tiny-clip" }}\n'
        f'options = {{ arch = "tiny", config = {_toml(TINY)} }}\n', encoding="utf-8")
    return manifest, root / "models", weights


@pytest.fixture
def models_env(tiny_weights, monkeypatch):
    manifest, models, _ = tiny_weights
    monkeypatch.setenv("INSPECTOR_MANIFEST", str(manifest))
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(models))
    return tiny_weights


def _settings(**kw):
    return {"model_id": MODEL_ID, "image_size": 64, "object_name": "tile", "w_vl": 0.0,
            "defect_words": ["crack"], "batch_size": 4, **kw}


def texture(seed: int, size=(64, 64)) -> np.ndarray:
    """A striped, slightly noisy texture, phase-shifted per seed (a good part)."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin((xx + 3 * seed) / 3.0) + rng.normal(0, 6, size)
    return np.repeat(np.clip(base, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def with_defect(img: np.ndarray, y: int, x: int, r: int) -> np.ndarray:
    out = img.copy()
    out[y - r:y + r, x - r:x + r] = (230, 30, 30)
    return out


@pytest.fixture(scope="module")
def fitted(tiny_weights):
    manifest, models, _ = tiny_weights
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSPECTOR_MANIFEST", str(manifest))
        mp.setenv("INSPECTOR_MODELS_DIR", str(models))
        model = VladModel(_settings())
        steps = []
        model.fit([texture(s) for s in range(6)], progress=lambda d, t, m: steps.append((d, t)))
    assert steps[-1][0] == steps[-1][1]
    return model


def test_fit_then_score_maps_at_each_input_size(fitted):
    images = [texture(10), texture(11, (48, 80)), texture(12, (131, 97))]
    out = fitted.score(images)
    assert [m.shape for _, m in out] == [(64, 64), (48, 80), (131, 97)]
    for s, m in out:
        assert m.dtype == np.float32 and np.isfinite(m).all() and np.isfinite(s)
    assert fitted.backbone.stages == [1, 2, 3, 4]
    assert [b.shape for b in fitted.banks] == [(6 * 64, 32)] * 4


def test_defect_scores_higher_and_is_localised(fitted):
    good = texture(20)
    bad = with_defect(texture(20), 40, 16, 6)
    (s_good, m_good), (s_bad, m_bad) = fitted.score([good, bad])
    assert s_bad > s_good + 0.1
    y, x = np.unravel_index(np.argmax(m_bad), m_bad.shape)
    assert abs(y - 40) <= 10 and abs(x - 16) <= 10
    # a reference is in its own bank: the vision-vision distance is ~0 everywhere
    s_ref, _ = fitted.score([texture(3)])[0]
    assert s_ref < 0.05


def test_vision_language_part_is_a_softmax_probability_sum(models_env):
    model = VladModel(_settings(w_vl=1.0, w_vv=0.0, sigma=0))
    model.fit([texture(0)])
    s, m = model.score([texture(1)])[0]
    assert 0.0 <= s <= 1.0
    assert 0.0 <= m.min() and m.max() <= len(model.backbone.stages)
    normal, abnormal = model.prompts
    assert any("crack" in p and "tile" in p for p in abnormal)
    assert not any("crack" in p for p in normal)


def test_save_load_round_trip_gives_identical_scores(fitted, models_env, tmp_path):
    images = [texture(30), with_defect(texture(31), 20, 20, 5)]
    before = fitted.score(images)
    fitted.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vlad_arrays.npz", "vlad_state.json"]
    with np.load(tmp_path / "vlad_arrays.npz", allow_pickle=False) as z:
        assert {"text_emb", "adapter0_weight", "bank3"} <= set(z.files)
    # structural settings come from the saved state; the batch size may change
    loaded = VladModel.load(tmp_path, {"image_size": 128, "batch_size": 1})
    after = loaded.score(images)
    for (s0, m0), (s1, m1) in zip(before, after):
        assert s0 == s1 and np.array_equal(m0, m1)
    assert loaded.backbone.input_size == 64
    # new defect words re-encode the prompts instead of using the cached embeddings
    reworded = VladModel.load(tmp_path, {"defect_words": ["burn mark"]})
    assert any("burn mark" in p for p in reworded.prompts[1])
    assert not torch.equal(reworded.text_emb, loaded.text_emb)


def test_adapters_start_as_the_models_projection(fitted):
    bb = fitted.backbone
    for a in bb.adapters:
        assert torch.equal(a.weight, bb.visual.proj.T) and not a.bias.any()
    # the last stage's adapter applied to the class token gives the model's own image embedding
    seen = []
    hook = bb.visual.transformer.resblocks[-1].register_forward_hook(lambda m, i, o: seen.append(o))
    try:
        x = bb.preprocess([texture(5)])
        image_tok, _ = bb.encode(x)
    finally:
        hook.remove()
    cls_adapted = bb.adapters[-1](bb.visual.ln_post(seen[0][:, 0]))
    assert torch.allclose(torch.nn.functional.normalize(cls_adapted, dim=-1), image_tok, atol=1e-5)
    expected = torch.nn.functional.normalize(bb.model.encode_image(x), dim=-1)
    assert torch.allclose(image_tok, expected, atol=1e-5)


def test_bank_is_bounded_with_many_references(models_env):
    refs = [texture(s) for s in range(12)]  # 12 x 64 patches per stage
    for method in ("coreset", "random"):
        model = VladModel(_settings(max_bank=100, bank_sampling=method, batch_size=8))
        model.fit(refs)
        assert [b.shape[0] for b in model.banks] == [100] * 4
        assert all(b.dtype == torch.float16 for b in model.banks)
        assert np.isfinite(model.score([texture(40)])[0][0])


def test_coreset_keeps_rare_patterns_that_random_sampling_loses():
    gen = torch.Generator().manual_seed(1)
    centres = torch.nn.functional.normalize(torch.randn(40, 256, generator=gen), dim=1)
    counts = [1600] + [10] * 39  # one common pattern, 39 rare ones
    x = torch.cat([c + 0.01 * torch.randn(n, 256, generator=gen) for c, n in zip(centres, counts)])
    x = torch.nn.functional.normalize(x, dim=1)
    radius = {}
    for method in ("coreset", "random"):
        bank = build_bank(x, 64, method, seed=0)
        assert bank.shape == (64, 256) and torch.unique(bank, dim=0).shape[0] == 64
        radius[method] = float(nearest_distance(x, bank).max())
    assert radius["coreset"] < 0.2 < radius["random"]  # every rare pattern kept by the coreset
    small = build_bank(x[:10], 64)
    assert small.shape == (10, 256)
    assert torch.allclose(nearest_distance(x[:10], small), torch.zeros(10), atol=1e-3)


def test_image_size_change_interpolates_positional_embedding(models_env):
    model = VladModel(_settings(image_size=100))  # 100 // 8 = 12 patches a side
    model.fit([texture(s, (100, 100)) for s in range(3)])
    bb = model.backbone
    assert bb.grid == 12 and bb.input_size == 96
    assert tuple(bb.visual.positional_embedding.shape) == (1 + 144, 64)
    assert [b.shape[0] for b in model.banks] == [3 * 144] * 4
    s, m = model.score([texture(7, (70, 90))])[0]
    assert m.shape == (70, 90) and np.isfinite(s)


def test_positional_embedding_interpolation_keeps_layout():
    visual = open_clip.model.CLIP(**TINY).visual
    rows = torch.arange(8.0).repeat_interleave(8)  # value = row of the patch
    with torch.no_grad():
        visual.positional_embedding[0] = 7.0
        visual.positional_embedding[1:] = rows[:, None].expand(-1, 64)
    assert resize_positional_embedding(visual, 128) == 16
    pos = visual.positional_embedding.detach()
    assert torch.all(pos[0] == 7.0)
    grid = pos[1:, 0].reshape(16, 16)
    assert torch.all(grid[1:].mean(1) > grid[:-1].mean(1))  # rows still increase
    assert torch.allclose(grid[:, 0], grid[:, -1])  # columns unchanged
    assert visual.grid_size == (16, 16)


def test_missing_weights_name_model_and_import_command(tiny_weights, tmp_path, monkeypatch):
    manifest, _, weights = tiny_weights
    monkeypatch.setenv("INSPECTOR_MANIFEST", str(manifest))
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(tmp_path / "empty"))
    status = availability(_settings())
    assert not status.ok and MODEL_ID in status.reason and "inspector models import" in status.reason
    with pytest.raises(EngineUnavailable, match="inspector models import"):
        VladModel(_settings()).fit([texture(0)])
    # an explicit checkpoint file that is not there
    missing = {"checkpoint": str(tmp_path / "nope.bin"), "model_config": TINY, "image_size": 64}
    assert not availability(missing).ok
    with pytest.raises(EngineUnavailable, match="nope.bin"):
        VladModel(missing).fit([texture(0)])
    # the same file given explicitly works without any manifest entry
    explicit = VladModel({"checkpoint": str(weights), "model_config": TINY, "image_size": 64})
    explicit.fit([texture(0)])
    assert availability({"checkpoint": str(weights)}).ok


def test_requirements_and_registry(models_env):
    req = requirements()
    assert req.min_references == 1 and req.weights == ["clip-vit-l-14"] and req.gpu == "optional"
    assert requirements({"model_id": "clip-vit-b-16"}).weights == ["clip-vit-b-16"]
    assert availability(_settings()).ok
    from inspector.engines.registry import make_model

    assert isinstance(make_model("vlad", _settings()), VladModel)


def test_misuse_is_reported(models_env, tmp_path):
    model = VladModel(_settings())
    with pytest.raises(InspectorError, match="not fitted"):
        model.score([texture(0)])
    with pytest.raises(EngineUnavailable, match="at least 1"):
        model.fit([])
    with pytest.raises(Cancelled):
        model.fit([texture(s) for s in range(8)], cancel=lambda: True)
    with pytest.raises(InspectorError, match="uint8 RGB"):
        model.backbone.preprocess([np.zeros((8, 8), np.uint8)])
    with pytest.raises(InspectorError, match="image_size"):
        VladModel(_settings(image_size="big"))
    with pytest.raises(InspectorError, match="no fitted VLAD state"):
        VladModel.load(tmp_path)


def test_short_text_encoding_matches_encode_text():
    from inspector.engines.vlad.text import _shortcut_works, encode_prompts

    torch.manual_seed(2)
    model = open_clip.model.CLIP(**TINY).eval()
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=77)
    prompts = ["a photo of a tile.", "a cropped photo of the tile with crack and burnt edge."]
    with torch.no_grad():
        full = torch.nn.functional.normalize(model.encode_text(tokenizer(prompts)), dim=-1)
        assert _shortcut_works(model, tokenizer(prompts))
    assert torch.allclose(encode_prompts(model, tokenizer, prompts, "cpu"), full, atol=1e-6)


def test_prompts_from_vocabulary():
    voc = load_vocabulary()
    normal, abnormal = build_prompts("  metal  nut ", ["scratch", " ", "scratch", "bent lead"])
    assert len(normal) == len(voc.normal) * len(voc.templates)
    assert len(abnormal) == (len(voc.abnormal) + 2 * len(voc.defect_states)) * len(voc.templates)
    assert all("metal nut" in p for p in normal + abnormal)
    assert any("bent lead" in p for p in abnormal)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda_autocast_matches_cpu(fitted, models_env):
    gpu = VladModel(_settings(precision="fp16"), device="cuda")
    gpu.fit([texture(s) for s in range(6)])
    images = [texture(50), with_defect(texture(51), 30, 30, 6)]
    for (s0, m0), (s1, m1) in zip(fitted.score(images), gpu.score(images)):
        assert abs(s0 - s1) < 0.05 and np.abs(m0 - m1).max() < 0.05


def test_eval_command_runs_end_to_end_on_real_data(models_env, real_data, cli, tmp_path):
    """`inspector eval ROOT --engine vlad` with the tiny model: figures meaningless, pipeline real."""
    import json

    code, out, err = cli("eval", real_data, "--engine", "vlad", "--category", "hazelnut_toy",
                         "--shots", "2", "--set", f"model_id={MODEL_ID}", "--set", "image_size=64",
                         "--json", tmp_path / "vlad.json")
    assert code == 0, err
    assert "engine vlad" in out and "hazelnut_toy" in out
    r = json.loads((tmp_path / "vlad.json").read_text())["categories"]["hazelnut_toy"]
    assert r["n_refs"] == 2 and len(r["images"]) == r["n_test"] > 0
    assert 0.0 <= r["i_auroc"] <= 1.0 and 0.0 <= r["p_auroc"] <= 1.0
