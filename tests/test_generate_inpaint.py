"""Prompt inpainting with tiny random SD inpainting components (UNet in_channels=9, VAE, CLIP text
model + tokenizer, DDIM scheduler) saved with save_pretrained into a models folder and loaded by the
real loader: contract, alignment retry, a peft LoRA, missing weights, cancel mid-run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from inspector.core.errors import Cancelled, InspectorError
from inspector.generate.contract import DefectSpec, GenerationContext, change_map

pytest.importorskip("diffusers")

# the tiny VAE is random, so outside pixels change as much as inside ones: contrast is unit-tested below
SMALL = {"model": "tiny-inpaint", "size": 32, "steps": 4, "min_side": 16, "prompt_template": "{object} {defect}",
         "object": "w", "device": "cpu", "min_contrast": 0.0, "change_tolerance": 2}


@pytest.fixture(scope="module")
def tiny_sources(tmp_path_factory) -> dict[str, Path]:
    import torch
    from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from weights_fixtures import build_tiny_sd

    torch.set_num_threads(1)  # tiny models: threads only fight over a shared CPU
    base = tmp_path_factory.mktemp("sd")
    sd = build_tiny_sd(base / "tiny-inpaint", inpaint=True)
    unet = UNet2DConditionModel.from_pretrained(sd / "unet")
    torch.manual_seed(1)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian",
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    for name, w in unet.named_parameters():  # gaussian init keeps B = 0; make the LoRA actually change things
        if "lora_B" in name:
            torch.nn.init.normal_(w, std=2.0)
    StableDiffusionInpaintPipeline.save_lora_weights(base / "tiny-lora", unet_lora_layers=get_peft_model_state_dict(unet),
                                                     safe_serialization=True)
    return {"tiny-inpaint": sd, "tiny-lora": base / "tiny-lora"}


@pytest.fixture
def models_env(tmp_path, monkeypatch, tiny_sources) -> Path:
    """A models folder holding tiny-inpaint and tiny-lora, and a manifest naming tiny-inpaint (and
    sd15-inpainting, absent)."""
    from weights_fixtures import file_entries, manifest_text

    from inspector.generate import inpaint

    root = tmp_path / "models"
    entries = []
    for name, src in tiny_sources.items():
        shutil.copytree(src, root / name)
        if name == "tiny-lora":
            continue  # a LoRA is a plain sub-folder of the models folder, not a manifest entry
        entries.append({"id": name, "title": name, "kind": "diffusers_folder", "engines": ["inpaint"],
                        "licence": "test", "source": {"hf_repo": f"test-org/{name}"},
                        "files": file_entries(src, checksums=False)})
    entries.append({"id": "sd15-inpainting", "title": "SD 1.5 Inpainting", "kind": "diffusers_folder",
                    "engines": ["inpaint"], "licence": "test", "source": {"hf_repo": "test-org/sd15-inpainting"},
                    "files": [{"name": "model_index.json", "size": 10}]})
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(manifest_text(entries), encoding="utf-8")
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(root))
    monkeypatch.setenv("INSPECTOR_MANIFEST", str(manifest))
    monkeypatch.setattr(inpaint, "_CACHE", {})
    return root


def _washer(size: int = 64, seed: int = 0):
    from inspector.generate.procedural import render_good_with_foreground

    return render_good_with_foreground("washer", np.random.default_rng(seed), size)


def test_missing_weights_name_the_model_and_the_import_command(models_env):
    from inspector.generate.registry import get_method, methods

    spec = next(m for m in methods() if m.id == "inpaint")
    missing = spec.availability()
    assert not missing.ok and "sd15-inpainting" in missing.message() and "inspector models import" in missing.message()
    assert spec.availability(model="tiny-inpaint").ok and spec.availability(model="tiny-inpaint", lora="tiny-lora").ok
    assert not spec.availability(model="tiny-inpaint", lora="no-such-lora").ok
    with pytest.raises(InspectorError, match="method 'inpaint' is unavailable: .*sd15-inpainting.*inspector models import"):
        get_method("inpaint")


def test_a_drawn_region_gives_a_sample_inside_it_with_exact_outside_pixels(models_env):
    from inspector.generate.registry import generate

    img, fg = _washer()
    region = np.zeros(fg.shape, bool)
    region[20:44, 8:30] = True
    ctx = GenerationContext(region=region, params=SMALL)
    a = generate("inpaint", img, fg, DefectSpec(word="dent"), 3, ctx)
    assert a.mask.any() and not (a.mask & ~(region & fg)).any()  # inside the request
    assert np.array_equal(a.image[~a.mask], img[~a.mask])  # restored exactly outside
    assert np.array_equal(a.mask, (change_map(img, a.image) > 2) & region & fg)  # the real change
    assert a.recipe["method"] == "inpaint" and a.recipe["prompt"] == "w dent" and a.recipe["used_seed"] == 3
    b = generate("inpaint", img, fg, DefectSpec(word="dent"), 3, ctx)
    assert a.image.tobytes() == b.image.tobytes()  # same seed, same bytes
    c = generate("inpaint", img, fg, DefectSpec(word="dent"), 5, GenerationContext(params=SMALL))  # sampled blob
    assert c.mask.any() and not (c.mask & ~fg).any() and c.recipe["requested_px"] < 0.5 * fg.sum()


def test_alignment_check_measures_contrast_and_area():
    from inspector.generate.inpaint import InpaintParams, aligned, alignment

    img = np.full((40, 40, 3), 100, np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    p = InpaintParams()
    inside = img.copy()
    inside[mask] = 180
    assert aligned(alignment(img, inside, mask, 10), p)
    everywhere = np.full_like(img, 180)  # changed everywhere: contrast 1
    assert not aligned(alignment(img, everywhere, mask, 10), p)
    tiny = img.copy()
    tiny[10, 10] = 180  # inside only, but 1 % of the mask
    stats = alignment(img, tiny, mask, 10)
    assert stats["contrast"] > p.min_contrast and not aligned(stats, p)


def test_a_model_that_changes_nothing_is_retried_then_fails_cleanly(models_env, monkeypatch):
    from inspector.generate import inpaint
    from inspector.generate.registry import generate

    calls: list[int] = []

    def unchanged(pipe, image, mask, prompt, p, seed, progress, cancel, label):  # noqa: ANN001, ANN202
        calls.append(seed)
        return image.copy()

    monkeypatch.setattr(inpaint, "_paint", unchanged)
    img, fg = _washer()
    with pytest.raises(InspectorError, match="did not change the masked region enough after 3 seeds"):
        generate("inpaint", img, fg, DefectSpec(word="dent"), 7, GenerationContext(params=SMALL))
    assert calls == [7, 8, 9]
    calls.clear()
    with pytest.raises(InspectorError, match="after 2 seeds"):
        generate("inpaint", img, fg, DefectSpec(word="dent"), 7, GenerationContext(params={**SMALL, "retries": 2}))
    assert calls == [7, 8]


def test_a_peft_lora_loads_and_changes_the_output(models_env):
    from inspector.generate.inpaint import load_pipeline
    from inspector.generate.registry import generate

    img, fg = _washer()
    plain = generate("inpaint", img, fg, DefectSpec(word="dent"), 1, GenerationContext(params=SMALL))
    lora = generate("inpaint", img, fg, DefectSpec(word="dent"), 1,
                    GenerationContext(params={**SMALL, "lora": "tiny-lora"}))
    assert load_pipeline("tiny-inpaint", "cpu", "tiny-lora").get_active_adapters()  # peft adapter in the UNet
    assert lora.recipe["model_versions"]["lora"] == "tiny-lora"
    assert plain.image.tobytes() != lora.image.tobytes()
    bad = models_env / "broken-lora"
    bad.mkdir()
    (bad / "pytorch_lora_weights.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InspectorError, match="LoRA weights .* do not load"):
        generate("inpaint", img, fg, DefectSpec(word="dent"), 1, GenerationContext(params={**SMALL, "lora": str(bad)}))


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
        return any("sample 2 of 3: inpaint step 2" in m for *_, m in seen)

    params = {k: v for k, v in SMALL.items() if k != "object"}  # the product's object word fills the prompt
    settings = synth.RunSettings(method="inpaint", count=3, params=params, filter=False)
    with pytest.raises(Cancelled):
        list(synth.generate_set(ws, "washer", "inp-set", settings, progress=lambda d, t, m: seen.append((d, t, m)),
                                cancel=cancel))
    info = synth.get_set(ws, "washer", "inp-set")
    assert [s.index for s in info.samples] == [0]
    assert sorted(p.name for p in info.folder.iterdir()) == ["00000.png", "00000_mask.png", "set.json"]
    assert any("inpaint step 4 of 4" in m for *_, m in seen)  # per-step progress
    rest = list(synth.generate_set(ws, "washer", "inp-set", settings))  # resumes at index 1
    assert [s.index for s in rest] == [1, 2] and all(s.recipe["prompt"] == "washer dent" for s in rest)
