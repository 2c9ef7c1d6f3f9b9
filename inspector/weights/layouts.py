"""Recognise weights by their layout: tensor names and shapes of a checkpoint, or a folder's configs.

A *signature* is (kind, facts): kind is a manifest kind, facts are sizes read from the weights
(e.g. SAM `encoder_embed_dim=768, encoder_depth=12`). A manifest entry's `layout` table lists
the facts that identify it; `matches_layout` compares them. Reading shapes does not load tensor
data (mmap for torch zip checkpoints, header only for safetensors).
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from pathlib import Path
from typing import Any, Optional

Signature = tuple[str, dict[str, Any]]
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
WEIGHT_SUFFIXES = TORCH_SUFFIXES + (".safetensors",)


class LayoutError(ValueError):
    """A file or folder could not be read as weights (truncated, wrong format, wrong keys)."""


def read_tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors in a torch checkpoint or safetensors file.

    Torch files load with weights_only=True (no code runs); a {'state_dict': ...} or
    {'model': ...} wrapper is unwrapped and a 'module.' prefix dropped.
    """
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        from .safetensors_header import tensor_shapes  # validates the header; reads no data

        shapes = tensor_shapes(path)
        if not shapes:
            raise LayoutError(f"{path.name}: contains no tensors")
        return shapes
    import torch

    try:
        mmap = zipfile.is_zipfile(path)  # mmap needs the zip format (torch >= 1.6 default)
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:
        raise LayoutError(f"{path.name}: not a loadable torch checkpoint ({exc})") from None
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model"):
            if isinstance(obj.get(wrapper), dict):
                obj = obj[wrapper]
                break
    if not isinstance(obj, dict):
        raise LayoutError(f"{path.name}: holds a {type(obj).__name__}, not a state dict")
    shapes = {}
    for k, v in obj.items():
        if hasattr(v, "shape"):
            shapes[k[7:] if k.startswith("module.") else k] = tuple(v.shape)
    if not shapes:
        raise LayoutError(f"{path.name}: contains no tensors")
    return shapes


def _count_blocks(shapes: dict, prefix: str) -> int:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({m.group(1) for k in shapes if (m := pat.match(k))})


def state_dict_signature(shapes: dict[str, tuple[int, ...]]) -> Optional[Signature]:
    """Recognise a SAM or open_clip state dict from tensor shapes; None when neither."""
    prefixes = ("image_encoder.", "prompt_encoder.", "mask_decoder.")
    if all(any(k.startswith(p) for k in shapes) for p in prefixes):
        proj = shapes.get("image_encoder.patch_embed.proj.weight")
        pos = shapes.get("image_encoder.pos_embed")
        neck = shapes.get("image_encoder.neck.0.weight")
        if not proj or not pos or not neck:
            return None
        patch = proj[-1]
        return "sam_checkpoint", {
            "encoder_embed_dim": proj[0], "encoder_depth": _count_blocks(shapes, "image_encoder.blocks."),
            "patch_size": patch, "image_size": pos[1] * patch, "prompt_embed_dim": neck[0]}
    conv = shapes.get("visual.conv1.weight")
    pos = shapes.get("visual.positional_embedding")
    if conv and pos and "token_embedding.weight" in shapes and "positional_embedding" in shapes:
        patch = conv[-1]
        grid = math.isqrt(pos[0] - 1)
        proj = shapes.get("visual.proj")
        return "open_clip_state_dict", {
            "vision_width": conv[0], "vision_layers": _count_blocks(shapes, "visual.transformer.resblocks."),
            "patch_size": patch, "image_size": grid * patch,
            "embed_dim": proj[1] if proj else None,
            "text_width": shapes["token_embedding.weight"][1],
            "context_length": shapes["positional_embedding"][0]}
    return None


def file_signature(path: Path) -> Optional[Signature]:
    """Signature of a weights file, None when it loads but is not a known architecture."""
    return state_dict_signature(read_tensor_shapes(path))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayoutError(f"{path.name}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LayoutError(f"{path.name}: expected a JSON object")
    return data


def folder_signature(folder: Path) -> Optional[Signature]:
    """Recognise a diffusers pipeline folder or a transformers model folder; None otherwise."""
    folder = Path(folder)
    if (folder / "model_index.json").is_file():
        index = _read_json(folder / "model_index.json")
        facts: dict[str, Any] = {"pipeline_class": index.get("_class_name")}
        if (folder / "unet" / "config.json").is_file():
            facts["unet_in_channels"] = _read_json(folder / "unet" / "config.json").get("in_channels")
        return "diffusers_folder", facts
    if (folder / "config.json").is_file():
        cfg = _read_json(folder / "config.json")
        if "model_type" not in cfg:
            return None
        facts = {"model_type": cfg["model_type"]}
        backbone = cfg.get("backbone_config") or {}
        if isinstance(backbone, dict) and "embed_dim" in backbone:
            facts["backbone_embed_dim"] = backbone["embed_dim"]
        if "d_model" in cfg:
            facts["d_model"] = cfg["d_model"]
        return "transformers_folder", facts
    return None


def matches_layout(signature: Optional[Signature], kind: str, layout: dict[str, Any]) -> bool:
    """True when the signature has the manifest kind and every fact the layout lists."""
    if signature is None or signature[0] != kind:
        return False
    facts = signature[1]
    return all(facts.get(k) == v for k, v in layout.items())


def describe(signature: Optional[Signature]) -> str:
    if signature is None:
        return "unrecognised"
    kind, facts = signature
    return kind + " (" + ", ".join(f"{k}={v}" for k, v in facts.items()) + ")"
