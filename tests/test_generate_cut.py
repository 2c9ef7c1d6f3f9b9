"""CUT with tiny random diffusers components (UNet2DConditionModel, AutoencoderKL, CLIPTextModel +
tokenizer, DDIM scheduler) saved with save_pretrained into a models folder and loaded by the
real loading code: attention optimisation, masked latent update, early stop, contract, cancel."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from inspector.core.errors import Cancelled, InspectorError
from inspector.generate.contract import DefectSpec, GenerationContext, change_map

pytest.importorskip("diffusers")

SMALL = {"model": "tiny-sd", "size": 32, "steps": 20, "min_side": 16, "prompt_template": "{object} {defect}",
         "object": "w", "device": "cpu", "max_refine": 3}


@pytest.fixture(scope="module")
def tiny_sd_source(tmp_path_factory) -> Path:
    import torch

    from weights_fixtures import build_tiny_sd

    torch.set_num_threads(1)  # tiny models: threads only fight over a shared CPU
    return build_tiny_sd(tmp_path_factory.mktemp("sd") / "tiny-sd")


@pytest.fixture
def models_env(tmp_path, monkeypatch, tiny_sd_source) -> Path:
    """A models folder holding tiny-sd and a manifest naming it (and sd15, absent)."""
    from weights_fixtures import file_entries, manifest_text

    from inspector.generate import cut

    root = tmp_path / "models"
    shutil.copytree(tiny_sd_source, root / "tiny-sd")
    entries = [{"id": "tiny-sd", "title": "Tiny SD", "kind": "diffusers_folder", "engines": ["cut"],
                "licence": "test", "source": {"hf_repo": "test-org/tiny-sd"},
                "files": file_entries(tiny_sd_source, checksums=False)},
               {"id": "sd15", "title": "Stable Diffusion 1.5", "kind": "diffusers_folder", "engines": ["cut"],
                "licence": "test", "source": {"hf_repo": "test-org/sd15"},
                "files": [{"name": "model_index.json", "size": 10}]}]
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(manifest_text(entries), encoding="utf-8")
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(root))
    monkeypatch.setenv("INSPECTOR_MANIFEST", str(manifest))
    monkeypatch.setattr(cut, "_CACHE", {})
    return root


def _washer(size: int = 64, seed: int = 0):
    from inspector.generate.procedural import render_good_with_foreground

    return render_good_with_foreground("washer", np.random.default_rng(seed), size)


def _run(params=None, defect="dent", seed=0, progress=None):  # noqa: ANN001, ANN202
    import cv2

    from inspector.generate.cut import CutParams, CutRun, load_model

    img, fg = _washer()
    p = CutParams.from_params({**SMALL, **(params or {})})
    fgw = cv2.resize(fg.astype(np.uint8), (p.size, p.size), interpolation=cv2.INTER_NEAREST) > 0
    return CutRun(load_model(p.model, "cpu"), p, img, fgw, "w", defect, seed, progress)


def test_availability_names_the_missing_model_and_the_import_command(models_env):
    from inspector.generate.registry import get_method, methods

    cut = next(m for m in methods() if m.id == "cut")
    missing = cut.availability()
    assert not missing.ok and "sd15" in missing.message() and "inspector models import" in missing.message()
    assert cut.availability(model="tiny-sd").ok
    with pytest.raises(InspectorError, match="method 'cut' is unavailable: .*sd15.*inspector models import"):
        get_method("cut")


def test_the_defect_token_is_found_in_the_prompt(models_env):
    from inspector.generate.cut import find_tokens, load_model

    tok = load_model("tiny-sd", "cpu").tokenizer
    ids = tok("w dent", padding="max_length", max_length=tok.model_max_length).input_ids
    pos = find_tokens(tok, ids, "dent")
    assert len(pos) == 4 and tok.decode([ids[i] for i in pos]).replace(" ", "") == "dent"
    with pytest.raises(InspectorError, match="not in the tokenised prompt"):
        find_tokens(tok, ids, "crack")


def test_optimisation_raises_the_defect_attention_inside_the_mask_and_nothing_outside(models_env):
    import torch

    run = _run({"thresholds": [0.99, 0.99, 0.99], "max_refine": 4, "lam": 50.0})
    m = run.m
    m.unet.set_attn_processor(run.processors)
    m.scheduler.set_timesteps(run.p.steps)
    t = m.scheduler.timesteps[5]
    fg_small, fg_lat = run._masks()
    z0 = run.encode()
    latent = m.scheduler.add_noise(z0, torch.randn(z0.shape, generator=torch.Generator().manual_seed(0)), t[None])
    run.n_start = None
    with torch.no_grad():
        before = float((run.defect_map(latent, t) * fg_small).max())
    new, info = run.optimise(latent, t, 0, 15, fg_small, fg_lat)
    with torch.no_grad():
        after = float((run.defect_map(new, t) * fg_small).max())
    assert info["updates"] == 4 and info["max_before"] == pytest.approx(before, abs=1e-6)
    assert after > before
    outside = (fg_lat == 0).expand_as(latent)
    assert outside.any() and torch.equal(new[outside], latent[outside])  # the latent outside is untouched
    assert not torch.equal(new, latent)


def test_early_stop_fires_and_the_sample_keeps_the_contract(models_env):
    run = _run({"early_after": 3, "early_band": [0, 1e9]})
    _, _, rec = run.run()
    assert rec["early_stop_step"] == 3 and len(rec["optimisation"]) == 4
    never = _run({"early_band": [1e8, 1e9]})
    _, _, rec2 = never.run()
    assert rec2["early_stop_step"] is None and len(rec2["optimisation"]) == rec2["t_start"] == 15

    from inspector.generate.registry import generate

    img, fg = _washer()
    a = generate("cut", img, fg, DefectSpec(word="dent"), 4, GenerationContext(params=SMALL))
    assert a.mask.any() and a.recipe["area_px"] == int(a.mask.sum())
    b = generate("cut", img, fg, DefectSpec(word="dent"), 4, GenerationContext(params=SMALL))
    assert a.image.tobytes() == b.image.tobytes()  # same seed, same bytes
    assert a.soft_mask.shape == fg.shape and 0 <= a.soft_mask.min() and a.soft_mask.max() <= 1
    region = (a.soft_mask >= 0.5) & fg
    assert np.array_equal(a.mask, (change_map(img, a.image) > a.recipe["tolerance"]) & region)
    assert np.array_equal(a.image[~a.mask], img[~a.mask]) and not (a.mask & ~fg).any()
    assert a.recipe["method"] == "cut" and a.recipe["prompt"] == "w dent"
    assert a.recipe["model_versions"]["model"] == "tiny-sd"


def test_bad_input(models_env):
    from inspector.generate.registry import generate

    img, fg = _washer()
    with pytest.raises(InspectorError, match="smaller than the generator's minimum of 128 px"):
        generate("cut", img, fg, DefectSpec(word="dent"), 0, GenerationContext(params={**SMALL, "min_side": 128}))
    with pytest.raises(InspectorError, match="CUT needs a defect word"):
        generate("cut", img, fg, DefectSpec(), 0, GenerationContext(params=SMALL))


def test_cancel_mid_run_leaves_no_half_written_sample(models_env, ws, tmp_path):
    from inspector.core.image_io import save_png
    from inspector.services import synthetic as synth
    from inspector.services.products import create_product
    from inspector.services.references import add_references

    for k in range(2):
        save_png(tmp_path / "refs" / f"{k}.png", _washer(seed=k)[0])
    create_product(ws, "washer", defect_words=["dent"])
    add_references(ws, "washer", [tmp_path / "refs"])
    seen: list[tuple[int, int, str]] = []

    def cancel() -> bool:  # during the second sample's diffusion steps
        return any("sample 2 of 3: CUT step 5" in m for *_, m in seen)

    params = {k: v for k, v in SMALL.items() if k != "object"}  # the product's object word fills the prompt
    settings = synth.RunSettings(method="cut", count=3, params=params, filter=False)
    with pytest.raises(Cancelled):
        list(synth.generate_set(ws, "washer", "cut-set", settings, progress=lambda d, t, m: seen.append((d, t, m)),
                                cancel=cancel))
    info = synth.get_set(ws, "washer", "cut-set")
    assert [s.index for s in info.samples] == [0]
    assert sorted(p.name for p in info.folder.iterdir()) == ["00000.png", "00000_mask.png", "set.json"]
    steps = [(d, t) for d, t, m in seen if "CUT step" in m]
    assert steps and all(t == 3000 for _, t in steps) and 1000 < steps[-1][0] < 2000  # per-step progress
    rest = list(synth.generate_set(ws, "washer", "cut-set", settings))  # resumes at index 1
    assert [s.index for s in rest] == [1, 2]
    assert all(s.recipe["prompt"] == "washer dent" for s in rest)
