"""`inspector --self-test`: prove an installed (or frozen) Inspector works, without a display.

Everything runs in a temporary folder (workspace, models folder, settings file), so the
user's data is never touched: the standalone engine is fitted and run on generated images,
the database is written and read back, the main window is built offscreen, and each heavy
library the bundle ships builds a tiny random model, saves it in its real on-disk format and
loads it back through Inspector's own loaders (so data files such as open_clip's BPE
vocabulary and model configs are exercised). Prints one line: `PASS <step>=<s> ...` and
exits 0, or `FAIL <step>: <why>` and exits 1.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

# Fast standalone settings: the self-test checks that the engine works, not how well.
_FAST = {"stride": 8, "memory_size": 1024, "max_candidates": 4096}
_SIZE = 128  # generated image side in pixels


def _standalone(tmp: Path) -> None:
    """Workspace + product + references, fit + calibrate, inspect a good and a defective image."""
    from .core.image_io import save_png
    from .generate.procedural import render_defective, render_good
    from .services.engine_state import fit_product
    from .services.inspect import inspect_array
    from .services.products import create_product, update_product
    from .services.references import add_references
    from .storage.workspace import init_workspace

    rng = np.random.default_rng(0)
    refs = tmp / "refs"
    for i in range(5):
        save_png(refs / f"good_{i}.png", render_good("fabric", rng, _SIZE))
    ws = init_workspace(tmp / "workspace")
    try:
        create_product(ws, "fabric", tags={"object": "fabric"}, defect_words=["hole"])
        update_product(ws, "fabric", engine_settings=dict(_FAST))
        added, _ = add_references(ws, "fabric", [refs])
        if len(added) != 5:
            raise AssertionError(f"{len(added)} of 5 references stored")
        detector = fit_product(ws, "fabric")
        good, _ = inspect_array(ws, "fabric", render_good("fabric", rng, _SIZE), detector, source="file")
        bad_image, bad_mask, _ = render_defective("fabric", rng, _SIZE, kind="hole")
        bad, _ = inspect_array(ws, "fabric", bad_image, detector, source="file")
        if not bad.score > good.score:
            raise AssertionError(f"a planted hole scored {bad.score:.3f}, not above a good "
                                 f"image's {good.score:.3f}")
        if bad.anomaly_map.shape != bad_mask.shape:
            raise AssertionError(f"anomaly map {bad.anomaly_map.shape} for an image {bad_mask.shape}")
    finally:
        ws.close()


def _database(tmp: Path) -> None:
    """Reopen the workspace (migrations run again) and read back what the last step wrote."""
    from .services.inspections import query_history
    from .services.products import get_product
    from .storage.workspace import open_workspace

    ws = open_workspace(tmp / "workspace")
    try:
        info = get_product(ws, "fabric")
        if info.state_version != 1 or info.n_references != 5:
            raise AssertionError(f"product read back as version {info.state_version}, "
                                 f"{info.n_references} references")
        rows = query_history(ws, "fabric")
        if len(rows) != 2:
            raise AssertionError(f"{len(rows)} inspections read back, 2 written")
        for r in rows:
            if r.image_path and not ws.abs_path(r.image_path).is_file():
                raise AssertionError(f"inspection image {r.image_path} is missing")
    finally:
        ws.close()


def _gui(tmp: Path) -> None:
    """The main window, built offscreen on a first run (Qt stays inside inspector.gui)."""
    from .gui.selftest_window import check_first_window

    check_first_window(tmp / "settings.ini")


def _open_clip(tmp: Path) -> None:
    """A 2-layer CLIP: saved as a state dict, loaded by load_open_clip, images and text encoded."""
    import open_clip
    import torch

    from .weights.loaders import load_open_clip

    config = {"embed_dim": 32, "quick_gelu": True,
              "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
              "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    if open_clip.get_model_config("ViT-B-16") is None:  # the packaged model_configs/*.json
        raise AssertionError("open_clip's model configs are missing")
    torch.manual_seed(0)
    path = tmp / "clip" / "open_clip_pytorch_model.bin"
    path.parent.mkdir(parents=True)
    torch.save(open_clip.model.CLIP(**config).state_dict(), path)
    model, info, tokenizer = load_open_clip(("tiny-vit", path, config))
    with torch.no_grad():
        image = model.encode_image(torch.rand(1, 3, info.image_size, info.image_size))
        text = model.encode_text(tokenizer(["a photo of a scratched washer"]))  # the BPE vocabulary
    if image.shape != (1, 32) or text.shape != (1, 32):
        raise AssertionError(f"CLIP embeddings {tuple(image.shape)}, {tuple(text.shape)}")


def _segment_anything(tmp: Path) -> None:
    """A tiny SAM: saved, loaded by load_sam, one box prompt through SamPredictor."""
    import torch
    from segment_anything import SamPredictor

    from .weights.loaders import build_sam, load_sam

    dims = {"encoder_embed_dim": 32, "encoder_depth": 2, "encoder_num_heads": 2,
            "encoder_global_attn_indexes": [1], "image_size": 64, "patch_size": 16,
            "prompt_embed_dim": 32, "window_size": 2, "decoder_mlp_dim": 64, "decoder_num_heads": 2,
            "iou_head_hidden_dim": 32}
    torch.manual_seed(0)
    path = tmp / "sam_tiny.pth"
    torch.save(build_sam(dims).state_dict(), path)
    predictor = SamPredictor(load_sam(dims, path))
    predictor.set_image(np.zeros((48, 64, 3), np.uint8))
    masks, _, _ = predictor.predict(box=np.array([8, 8, 40, 40]), multimask_output=False)
    if masks.shape != (1, 48, 64):
        raise AssertionError(f"SAM mask of shape {masks.shape} for a 48x64 image")


def _transformers(tmp: Path) -> None:
    """A tiny Grounding DINO + processor: save_pretrained, load_grounding_dino, one forward pass."""
    import torch
    from transformers import (BertConfig, BertTokenizer, GroundingDinoConfig,
                              GroundingDinoForObjectDetection, GroundingDinoImageProcessor,
                              GroundingDinoProcessor, SwinConfig)

    from .weights.loaders import load_grounding_dino

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "scratch", "dent"]
    folder = tmp / "gdino"
    folder.mkdir()
    vocab = tmp / "gdino-vocab.txt"
    vocab.write_text("\n".join(words) + "\n", encoding="utf-8")
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}),
        tokenizer=BertTokenizer(vocab_file=str(vocab)))
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1],
                                   num_heads=[1, 1, 2, 2], window_size=4, out_indices=[2, 3, 4],
                                   out_features=["stage2", "stage3", "stage4"]),
        text_config=BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=32, max_position_embeddings=64),
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        encoder_attention_heads=2, decoder_attention_heads=2, num_queries=5, max_text_len=32,
        encoder_n_points=1, decoder_n_points=1)
    torch.manual_seed(0)
    GroundingDinoForObjectDetection(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    model, processor = load_grounding_dino(folder)
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    inputs = processor(images=image, text="a scratch. a dent.", return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    if out.pred_boxes.shape != (1, 5, 4):
        raise AssertionError(f"Grounding DINO boxes of shape {tuple(out.pred_boxes.shape)}")


def _diffusers(tmp: Path) -> None:
    """A tiny Stable Diffusion folder: save_pretrained, load_diffusers_pipeline, one img2img step."""
    import diffusers
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from PIL import Image
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from .weights.loaders import load_diffusers_pipeline

    diffusers.utils.logging.disable_progress_bar()  # the report is one line
    diffusers.utils.logging.set_verbosity_error()  # no advice to install accelerate
    chars = list("abcdefghijklmnopqrstuvwxyz.,")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(c, len(vocab))
    torch.manual_seed(0)
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4,
                          down_block_types=("DownEncoderBlock2D",) * 2,
                          up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=4, sample_size=32),
        text_encoder=CLIPTextModel(CLIPTextConfig(
            bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=16, intermediate_size=32,
            num_attention_heads=2, num_hidden_layers=1, vocab_size=len(vocab),
            max_position_embeddings=16, projection_dim=16)),
        tokenizer=CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16),
        unet=UNet2DConditionModel(
            block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4,
            out_channels=4, norm_num_groups=4, attention_head_dim=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16),
        scheduler=DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                clip_sample=False, set_alpha_to_one=False, steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(tmp / "sd")
    pipe = load_diffusers_pipeline(tmp / "sd", "img2img")
    pipe.set_progress_bar_config(disable=True)
    out = pipe(prompt="a scratch", image=Image.new("RGB", (32, 32), (128, 128, 128)), strength=0.5,
               num_inference_steps=2, guidance_scale=1.0, output_type="np").images
    if out.shape != (1, 32, 32, 3) or not np.isfinite(out).all():
        raise AssertionError(f"Stable Diffusion output of shape {out.shape}")


STEPS: list[tuple[str, Callable[[Path], None]]] = [
    ("standalone", _standalone), ("database", _database), ("gui", _gui), ("open_clip", _open_clip),
    ("segment_anything", _segment_anything), ("transformers", _transformers), ("diffusers", _diffusers),
]


def run_self_test() -> int:
    """Run every step in a temporary folder; print one PASS/FAIL line; 0 when all pass."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # no display needed, whatever the environment says
    timings: list[str] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="inspector-selftest-") as name:
        tmp = Path(name)
        # Settings, models and caches inside the temp folder: the user's own are never read or written.
        os.environ["INSPECTOR_SETTINGS"] = str(tmp / "settings.ini")
        os.environ["INSPECTOR_MODELS_DIR"] = str(tmp / "models")
        os.environ["INSPECTOR_WORKSPACE"] = str(tmp / "workspace")
        os.environ["HF_HUB_CACHE"] = str(tmp / "models" / "huggingface" / "hub")
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # one line of output, not progress bars
        os.environ["TRANSFORMERS_VERBOSITY"] = "error"
        from .weights.locations import configure_environment

        configure_environment()
        for step, fn in STEPS:
            t0 = time.perf_counter()
            try:
                fn(tmp)
            except Exception as exc:  # noqa: BLE001 - the report names the step and the reason
                if os.environ.get("INSPECTOR_DEBUG") == "1":
                    traceback.print_exc()
                why = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
                print(f"FAIL {step}: {type(exc).__name__}{': ' + why if why else ''}", flush=True)
                return 1
            timings.append(f"{step}={time.perf_counter() - t0:.1f}s")
    print(f"PASS {' '.join(timings)} total={time.perf_counter() - start:.1f}s", flush=True)
    return 0
