"""Tiny random models of the real architectures, saved in the real on-disk formats.

Shared by the weights tests and any engine test that needs CLIP / SAM / Grounding DINO /
Stable Diffusion weights: `tiny_models(tmp_path_factory)` builds them once per test session
and writes a test manifest listing them with their real sizes and checksums. Point the
weights code at it with `manifest=load_manifest(t.manifest), root=t.models_dir`, or with the
environment variables INSPECTOR_MANIFEST / INSPECTOR_MODELS_DIR.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

# open_clip config: real CLIP(...) keyword layout, ViT with 2 layers; the real BPE tokenizer
# (vocab 49408) is kept so the stock open_clip tokenizer works.
TINY_CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 32, "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY_CLIP_LAYOUT = {"vision_width": 64, "vision_layers": 2, "patch_size": 8, "image_size": 32}

# Sizes for inspector.weights.loaders.build_sam (segment-anything's _build_sam, parametrised).
TINY_SAM_DIMS: dict[str, Any] = {
    "encoder_embed_dim": 32, "encoder_depth": 2, "encoder_num_heads": 2,
    "encoder_global_attn_indexes": [1], "image_size": 64, "patch_size": 16,
    "prompt_embed_dim": 32, "window_size": 2, "decoder_mlp_dim": 64, "decoder_num_heads": 2,
    "iou_head_hidden_dim": 32,
}
TINY_SAM_LAYOUT = {"encoder_embed_dim": 32, "encoder_depth": 2, "image_size": 64, "prompt_embed_dim": 32}

GDINO_WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "a", "the", "of", "photo",
               "scratch", "dent", "crack", "stain", "hole", "defect"] + list("abcdefghijklmnopqrstuvwxyz")


def build_tiny_open_clip(path: Path, seed: int = 0) -> Path:
    """open_clip CLIP state dict saved with torch.save (the open_clip_pytorch_model.bin format)."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    model = open_clip.model.CLIP(**TINY_CLIP_CONFIG)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def build_tiny_sam(path: Path, seed: int = 0) -> Path:
    """segment-anything Sam state dict saved with torch.save (the sam_vit_*.pth format)."""
    import torch

    from inspector.weights.loaders import build_sam

    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_sam(TINY_SAM_DIMS).state_dict(), path)
    return path


def build_tiny_grounding_dino(folder: Path, seed: int = 0) -> Path:
    """GroundingDinoForObjectDetection + processor (BERT WordPiece vocab built here) save_pretrained."""
    import torch
    from transformers import (BertConfig, BertTokenizer, GroundingDinoConfig,
                              GroundingDinoForObjectDetection, GroundingDinoImageProcessor,
                              GroundingDinoProcessor, SwinConfig)

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder.parent / f".{folder.name}-vocab.txt"
    vocab.write_text("\n".join(GDINO_WORDS) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab_file=str(vocab))
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}),
        tokenizer=tokenizer)
    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1],
                          num_heads=[1, 1, 2, 2], window_size=4, out_indices=[2, 3, 4],
                          out_features=["stage2", "stage3", "stage4"])
    text = BertConfig(vocab_size=len(GDINO_WORDS), hidden_size=16, num_hidden_layers=1,
                      num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    config = GroundingDinoConfig(
        backbone_config=backbone, text_config=text, d_model=32, encoder_layers=1, decoder_layers=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
        decoder_attention_heads=2, num_queries=10, max_text_len=32, encoder_n_points=1,
        decoder_n_points=1)
    torch.manual_seed(seed)
    GroundingDinoForObjectDetection(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    vocab.unlink()
    return folder


def build_tiny_sd(folder: Path, inpaint: bool = False, seed: int = 0) -> Path:
    """A Stable Diffusion (or inpainting) diffusers folder: tiny UNet, VAE, CLIP text model,
    a CLIP BPE tokenizer over a local character vocabulary, and a DDIM scheduler."""
    import torch
    from diffusers import (AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline,
                           StableDiffusionPipeline, UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    chars = list("abcdefghijklmnopqrstuvwxyz.,")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(c, len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16,
        in_channels=9 if inpaint else 4, out_channels=4, norm_num_groups=4, attention_head_dim=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16)
    vae = AutoencoderKL(
        block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4, sample_size=32)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=16, intermediate_size=32,
        num_attention_heads=2, num_hidden_layers=1, vocab_size=len(vocab),
        max_position_embeddings=16, projection_dim=16))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    cls = StableDiffusionInpaintPipeline if inpaint else StableDiffusionPipeline
    pipe = cls(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
               scheduler=scheduler, safety_checker=None, feature_extractor=None,
               requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def file_entries(folder: Path, checksums: bool = True) -> list[dict]:
    """Manifest file entries (name, size, sha256) for every file under folder."""
    out = []
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):
        entry: dict[str, Any] = {"name": p.relative_to(folder).as_posix(), "size": p.stat().st_size}
        if checksums:
            entry["sha256"] = sha256_of(p)
        out.append(entry)
    return out


def manifest_text(models: list[dict]) -> str:
    """TOML for a list of model dicts (keys as in models/manifest.toml)."""
    parts = ["schema = 1\n"]
    for m in models:
        parts.append("[[model]]")
        for key, value in m.items():
            if key == "files":
                parts.append("files = [\n" + "".join(f"  {_toml(f)},\n" for f in value) + "]")
            else:
                parts.append(f"{key} = {_toml(value)}")
        parts.append("")
    return "\n".join(parts)


@dataclass
class TinyModels:
    """Built once per session. `source` holds the pristine files (never modify them)."""

    source: Path
    clip: Path  # open_clip_pytorch_model.bin
    sam: Path  # sam_tiny_0001.pth
    gdino: Path  # folder
    sd: Path  # folder
    sd_inpaint: Path  # folder
    models: list[dict]  # manifest entries (use write_manifest to get a file)

    def write_manifest(self, path: Path, sam_url: Optional[str] = None) -> Path:
        models = json.loads(json.dumps(self.models))
        if sam_url is not None:
            sam = next(m for m in models if m["id"] == "tiny-sam")
            sam["files"][0]["url"] = sam_url
        path.write_text(manifest_text(models), encoding="utf-8")
        return path


_BUILT: dict[str, TinyModels] = {}


def tiny_models(tmp_path_factory) -> TinyModels:
    """Build (once per session) the tiny models and their manifest entries."""
    if "t" in _BUILT:
        return _BUILT["t"]
    src = tmp_path_factory.mktemp("tiny-weights")
    clip = build_tiny_open_clip(src / "clip" / "open_clip_pytorch_model.bin")
    sam = build_tiny_sam(src / "sam" / "sam_tiny_0001.pth")
    gdino = build_tiny_grounding_dino(src / "grounding-dino-tiny-test")
    sd = build_tiny_sd(src / "sd-tiny")
    sdi = build_tiny_sd(src / "sd-tiny-inpainting", inpaint=True)
    hf = {"hf_repo": "test-org/tiny", "revision": "main"}
    models = [
        {"id": "tiny-clip", "title": "Tiny CLIP", "kind": "open_clip_state_dict", "engines": ["vlad"],
         "licence": "MIT", "source": hf,
         "files": [{"name": "open_clip_model.safetensors", "choice": "weights"},
                   {"name": clip.name, "size": clip.stat().st_size, "sha256": sha256_of(clip),
                    "choice": "weights"}],
         "layout": TINY_CLIP_LAYOUT,
         "options": {"arch": "tiny-vit", "config": TINY_CLIP_CONFIG}},
        {"id": "tiny-sam", "title": "Tiny SAM", "kind": "sam_checkpoint", "engines": ["iapas"],
         "licence": "Apache-2.0",
         "files": [{"name": sam.name, "size": sam.stat().st_size,
                    "url": "http://127.0.0.1:9/sam_tiny_0001.pth"}],
         "layout": TINY_SAM_LAYOUT, "options": {"dims": TINY_SAM_DIMS}},
        {"id": "tiny-gdino", "title": "Tiny Grounding DINO", "kind": "transformers_folder",
         "engines": ["iapas"], "licence": "Apache-2.0", "source": {"hf_repo": "test-org/tiny-gdino"},
         "files": file_entries(gdino), "layout": {"model_type": "grounding-dino", "backbone_embed_dim": 8}},
        {"id": "tiny-sd", "title": "Tiny SD", "kind": "diffusers_folder", "engines": ["cut"],
         "licence": "test", "source": {"hf_repo": "test-org/tiny-sd"},
         "files": file_entries(sd, checksums=False), "layout": {"unet_in_channels": 4}},
        {"id": "tiny-sd-inpainting", "title": "Tiny SD inpainting", "kind": "diffusers_folder",
         "engines": ["inpaint"], "licence": "test", "source": {"hf_repo": "test-org/tiny-sd-inpainting"},
         "files": file_entries(sdi, checksums=False), "layout": {"unet_in_channels": 9}},
    ]
    backdate(src)
    _BUILT["t"] = TinyModels(src, clip, sam, gdino, sd, sdi, models)
    return _BUILT["t"]


def backdate(path: Path, seconds: float = 3600) -> Path:
    """Set mtimes an hour back: files written moments ago are "racy" for the verify cache
    (inspector.weights.verify.RACY_NS) and their results would not be reused."""
    old = time.time() - seconds
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (old, old))
    return path


def copy_tree(src: Path, dst: Path) -> Path:
    """Copy a file or folder keeping mtimes (like a user copying weights around)."""
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    return dst


ENV_VARS = ("INSPECTOR_MODELS_DIR", "INSPECTOR_MANIFEST", "HF_HOME", "HF_HUB_CACHE",
            "XDG_CACHE_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE",
            "HF_HUB_DISABLE_TELEMETRY", "DISABLE_TELEMETRY", "HF_HUB_DISABLE_IMPLICIT_TOKEN")


def isolate_env(monkeypatch, tmp_path: Path, tiny: TinyModels) -> tuple[Path, Path]:
    """Point the weights code at an empty models folder and the tiny test manifest, with the
    Hugging Face caches inside tmp_path; every variable is restored after the test.
    Returns (models folder, manifest path)."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "models"
    manifest = tiny.write_manifest(tmp_path / "manifest.toml")
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(root))
    monkeypatch.setenv("INSPECTOR_MANIFEST", str(manifest))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return root, manifest
