"""VLAD adapter training (`train --base vlad`) on a tiny random CLIP saved in the real format.

The tiny open_clip ViT (weights_fixtures) sits in a models folder described by a manifest, so
the trainer and the engine load it through the model manager exactly as they load real CLIP.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")
pytest.importorskip("accelerate")

from weights_fixtures import build_tiny_open_clip, manifest_text, sha256_of  # noqa: E402

from inspector.core.errors import Cancelled, InspectorError  # noqa: E402
from inspector.core.image_io import encode_png  # noqa: E402
from inspector.generate.procedural import render_good  # noqa: E402
from inspector.train.vlad_adapters import VladTrainConfig, train_vlad_adapters  # noqa: E402

MODEL_ID = "tiny-clip"
SETTINGS = {"model_id": MODEL_ID, "object_name": "washer", "max_bank": 256, "batch_size": 8}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """(manifest, models folder) holding only the tiny CLIP of weights_fixtures."""
    from weights_fixtures import TINY_CLIP_CONFIG, TINY_CLIP_LAYOUT

    root = tmp_path_factory.mktemp("vlad-train")
    weights = build_tiny_open_clip(root / "models" / MODEL_ID / "open_clip_pytorch_model.bin")
    manifest = root / "manifest.toml"
    manifest.write_text(manifest_text([{
        "id": MODEL_ID, "title": "Tiny CLIP", "kind": "open_clip_state_dict", "engines": ["vlad"],
        "licence": "MIT", "source": {"hf_repo": "test-org/tiny", "revision": "main"},
        "files": [{"name": weights.name, "size": weights.stat().st_size, "sha256": sha256_of(weights),
                   "choice": "weights"}],
        "layout": TINY_CLIP_LAYOUT, "options": {"arch": "tiny-vit", "config": TINY_CLIP_CONFIG}}]))
    return manifest, root / "models"


@pytest.fixture
def clip_env(tiny_clip, monkeypatch):
    manifest, models = tiny_clip
    monkeypatch.setenv("INSPECTOR_MANIFEST", str(manifest))
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(models))
    torch.set_num_threads(1)
    return tiny_clip


@pytest.fixture(scope="module")
def refs():
    return [render_good("washer", np.random.default_rng(i), 64) for i in range(5)]


def tiny(**kw) -> VladTrainConfig:
    base = dict(epochs=3, samples_per_epoch=16, batch_size=8, image_size=64, lr=3e-3, val_defects_per_ref=2)
    return VladTrainConfig(**{**base, **kw})


def test_loss_falls_and_adapters_change(clip_env, refs, tmp_path):
    r = train_vlad_adapters(refs, tiny(epochs=4), tmp_path / "run", SETTINGS)
    losses = [h["loss"] for h in r.history]
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    assert set(r.validation) == {"vlad", "local"} and r.validation["local"]["n"] == 3
    # held-back references with cracks (never trained on): the trained adapters localise better
    assert r.validation["local"]["p_auroc"] > r.validation["vlad"]["p_auroc"], r.validation
    assert r.meta["model_id"] == MODEL_ID and r.meta["stages"] == [1, 2]
    assert {"adapter0_weight", "adapter1_bias"} <= set(r.arrays)
    assert r.examples["vlad"].shape == r.examples["local"].shape


def test_resume_after_cancel_reaches_the_uninterrupted_weights(clip_env, refs, tmp_path):
    cfg = tiny(epochs=2, samples_per_epoch=16, batch_size=4, learn_prompts=True)
    full = train_vlad_adapters(refs, cfg, tmp_path / "full", SETTINGS)
    steps = {"n": 0}

    def cancel() -> bool:
        steps["n"] += 1
        return steps["n"] == 6  # mid epoch 2
    with pytest.raises(Cancelled):
        train_vlad_adapters(refs, cfg, tmp_path / "cut", SETTINGS, cancel=cancel)
    resumed = train_vlad_adapters(refs, cfg, tmp_path / "cut", SETTINGS, resume=True)
    assert set(full.arrays) == set(resumed.arrays) and "text_emb" in full.arrays
    for k in full.arrays:
        np.testing.assert_allclose(full.arrays[k], resumed.arrays[k], rtol=0, atol=1e-6)
    assert [h["loss"] for h in full.history] == pytest.approx([h["loss"] for h in resumed.history], abs=1e-6)
    with pytest.raises(InspectorError, match="other settings.*epochs"):
        train_vlad_adapters(refs, tiny(epochs=5), tmp_path / "cut", SETTINGS, resume=True)


def make_product(ws, tmp_path, name="washer", n=5, create=True):
    from inspector.services import products, references

    if create:
        products.create_product(ws, name)
    products.update_product(ws, name, engine_settings=dict(SETTINGS, image_size=64))
    folder = tmp_path / f"refs-{name}"
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{i}.png").write_bytes(encode_png(render_good("washer", np.random.default_rng(i), 64)))
    references.add_references(ws, name, [folder])


def test_trained_adapters_are_saved_activated_and_used_by_inspect(clip_env, ws, tmp_path):
    from inspector.engines.vlad import VladModel
    from inspector.services import engine_state, products, training

    make_product(ws, tmp_path)
    det = training.train_product(ws, "washer", tiny(), base="vlad")
    assert det.base_engine == "vlad" and not det.active
    folder = ws.abs_path(det.path)
    assert {"vlad_adapters.safetensors", "vlad_adapters.json", "meta.json"} <= {p.name for p in folder.iterdir()}
    training.activate(ws, "washer", det.version)
    info = products.get_product(ws, "washer")
    assert info.engine == "vlad" and info.engine_settings["adapters_path"] == str(folder)
    image = render_good("washer", np.random.default_rng(77), 64)
    image[20:30, 20:30] = (200, 40, 40)
    trained = engine_state.load_detector(ws, "washer").model.score([image])[0]
    untrained = VladModel({**SETTINGS, "image_size": 64}, "cpu")
    untrained.fit([render_good("washer", np.random.default_rng(i), 64) for i in range(5)])
    base = untrained.score([image])[0]
    assert trained[1].shape == base[1].shape == (64, 64)
    assert abs(trained[0] - base[0]) > 1e-4 and np.abs(trained[1] - base[1]).max() > 1e-4
    assert training.active_detector(ws, "washer").version == det.version


def test_without_weights_says_which_model_to_import(ws, tmp_path, monkeypatch, cli):
    from inspector.services import products, training

    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(tmp_path / "empty-models"))
    monkeypatch.delenv("INSPECTOR_MANIFEST", raising=False)
    make_product(ws, tmp_path)
    products.update_product(ws, "washer", engine_settings={"model_id": "clip-vit-l-14"})
    with pytest.raises(InspectorError, match="needs the CLIP weights 'clip-vit-l-14' — .*inspector models import"):
        training.train_product(ws, "washer", tiny(), base="vlad")
    assert not training.run_dir(ws, products.get_product(ws, "washer").id).exists()  # nothing on disk
    from inspector.storage.workspace import open_workspace

    assert cli("workspace", "init")[0] == 0
    assert cli("products", "add", "washer")[0] == 0
    cli_ws = open_workspace(cli.workspace)
    try:
        make_product(cli_ws, tmp_path / "cli", create=False)
        products.update_product(cli_ws, "washer", engine_settings={"model_id": "clip-vit-l-14"})
    finally:
        cli_ws.close()
    code, out, err = cli("train", "washer", "--base", "vlad", "--device", "cpu")
    assert code == 1 and err.startswith("error: training VLAD adapters needs the CLIP weights") and " — " in err
    assert "inspector models download clip-vit-l-14" in err and "Traceback" not in err, err


def test_gpu_bench_script_smoke_mode_runs_on_the_cpu(tmp_path, monkeypatch):
    """scripts/bench_vlad_train.py --tiny: the GPU benchmark's code path, with a tiny CLIP."""
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_vlad_train.py"
    spec = importlib.util.spec_from_file_location("bench_vlad_train", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "tiny.json"
    assert bench.main(["--tiny", "--weights-dir", str(tmp_path / "w"), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["samples"] == 32 and r["processes"] == 1 and r["wall_s"] > 0 and r["final_loss"] == r["final_loss"]
