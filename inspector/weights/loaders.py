"""Load foundation weights for engines: find them (`locate`) and build the models from them.

Every loader builds the architecture from a plain config and then loads the weights with
`torch.load(weights_only=True, map_location="cpu")` (or safetensors), so tests that pass a
tiny config run exactly the code path the real weights use. Heavy imports live inside the
functions. Failures raise `EngineUnavailable` naming the model and the fix.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

from ..core.errors import EngineUnavailable
from .locations import resolve
from .manifest import Manifest, ManifestError, ModelSpec
from .safetensors_header import SafetensorsError, read_header
from .verify import CORRUPT, MISSING, check_model, quick_file_problem

if TYPE_CHECKING:  # pragma: no cover
    import torch

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

# (arch name, checkpoint path, open_clip model config or None for the built-in config)
ClipSource = Union[str, tuple[str, Union[str, os.PathLike], Optional[Mapping[str, Any]]]]


def missing_message(spec: ModelSpec, root: Path) -> str:
    """How to get a model onto this machine, in one paragraph (used by errors and the CLI)."""
    names = ", ".join(f.name for f in spec.preferred_files())
    return (f"{spec.title} weights ({spec.id}) not found. Online: `inspector models download "
            f"{spec.id}`. Offline: fetch {names} from {spec.source}, then run "
            f"`inspector models import PATH` or put the files in {root / spec.id}")


def locate(model_id: str, *, manifest: Optional[Manifest] = None,
           root: Optional[Path] = None) -> Path:
    """Path of a usable (present or verified) model: the weights file, or the model folder.

    Raises EngineUnavailable naming the model and the import command when it is missing or
    corrupt (a corrupt model is never handed to a loader).
    """
    try:
        manifest, root = resolve(manifest, root)
        spec = manifest.get(model_id)
    except ManifestError as exc:  # unknown id or no manifest: the engine cannot run either way
        raise EngineUnavailable(str(exc)) from None
    st = check_model(spec, root)
    if st.status == MISSING:
        raise EngineUnavailable(missing_message(spec, root))
    if st.status == CORRUPT:
        raise EngineUnavailable(
            f"{spec.title} weights ({spec.id}) at {st.path} are corrupt: {st.detail}. Delete them "
            f"and run `inspector models download {spec.id}` or `inspector models import PATH`")
    assert st.path is not None
    return st.path


def _check_file(path: Path, what: str) -> Path:
    path = Path(path)
    problem = quick_file_problem(path)
    if problem:
        raise EngineUnavailable(f"{what} weights {path} cannot be used: {problem}; run "
                                "`inspector models verify` and import or download them again")
    return path


# ----------------------------------------------------------------------------- open_clip

@dataclass(frozen=True)
class ClipInfo:
    """What an engine needs to feed the CLIP model: input size (pixels), normalisation, sizes."""

    arch: str
    image_size: int  # square input side in pixels
    mean: tuple[float, float, float]  # per-channel RGB mean, for images scaled to [0, 1]
    std: tuple[float, float, float]
    embed_dim: int  # joint image/text embedding size
    patch_size: int  # ViT patch side in pixels; patch grid = image_size // patch_size
    vision_width: int  # patch token width inside the visual transformer
    vision_layers: int
    context_length: int  # tokens per text prompt
    checkpoint: Path


def _clip_config(arch: str, config: Optional[Mapping[str, Any]]) -> dict:
    import open_clip

    if config is not None:
        return copy.deepcopy(dict(config))
    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise EngineUnavailable(f"unknown open_clip architecture '{arch}'")
    return copy.deepcopy(cfg)


def load_open_clip(source: ClipSource, device: Union[str, "torch.device"] = "cpu", *,
                   manifest: Optional[Manifest] = None, root: Optional[Path] = None):
    """Build an open_clip CLIP model and load its weights.

    source: a manifest model id (e.g. "clip-vit-l-14"), or (arch, checkpoint_path, config) where
    config is an open_clip model config dict ({"embed_dim", "vision_cfg", "text_cfg",
    "quick_gelu"?}) or None for open_clip's built-in config of `arch`.
    Returns (model in eval mode on `device`, ClipInfo, tokenizer); tokenizer(list[str]) gives
    a LongTensor (N, context_length). The model takes images (N, 3, S, S) float32 normalised
    with info.mean/info.std, S = info.image_size.
    """
    import open_clip
    import torch

    mean, std = OPENAI_MEAN, OPENAI_STD
    if isinstance(source, str):
        manifest, root = resolve(manifest, root)
        spec = manifest.get(source)
        if spec.kind != "open_clip_state_dict":
            raise EngineUnavailable(f"{source} is a {spec.kind}, not an open_clip model")
        opts = spec.options
        arch, path = opts.get("arch", source), locate(source, manifest=manifest, root=root)
        cfg = _clip_config(arch, opts.get("config"))
        if "quick_gelu" in opts:
            cfg["quick_gelu"] = bool(opts["quick_gelu"])
        mean, std = tuple(opts.get("mean", mean)), tuple(opts.get("std", std))
    else:
        arch, path, config = source
        cfg = _clip_config(arch, config)
    path = _check_file(Path(path), f"CLIP {arch}")
    cfg.pop("custom_text", None)  # our CLIP models use the built-in text tower
    try:
        model = open_clip.model.CLIP(**cfg)
    except TypeError as exc:
        raise EngineUnavailable(f"bad open_clip config for {arch}: {exc}") from None
    try:
        open_clip.load_checkpoint(model, str(path), strict=True, weights_only=True, device="cpu")
    except Exception as exc:  # pickle, zip, shape and key errors all mean "not these weights"
        raise EngineUnavailable(
            f"CLIP {arch} weights {path} do not load ({str(exc).splitlines()[0][:300]}); "
            "the file may be truncated or belong to another model") from None
    model = model.to(torch.device(device)).eval()
    vcfg, tcfg = cfg["vision_cfg"], cfg["text_cfg"]
    size = vcfg.get("image_size", 224)
    size = size[0] if isinstance(size, (list, tuple)) else size
    info = ClipInfo(arch=arch, image_size=int(size), mean=mean, std=std,  # type: ignore[arg-type]
                    embed_dim=int(cfg["embed_dim"]), patch_size=int(vcfg.get("patch_size", 16)),
                    vision_width=int(vcfg.get("width", 768)), vision_layers=int(vcfg.get("layers", 12)),
                    context_length=int(tcfg.get("context_length", 77)), checkpoint=path)
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=info.context_length)
    return model, info, tokenizer


# ----------------------------------------------------------------------------- SAM

# Sizes of segment-anything's builders (build_sam.py); tiny test models pass their own dict.
SAM_VARIANTS: dict[str, dict[str, Any]] = {
    "vit_h": {"encoder_embed_dim": 1280, "encoder_depth": 32, "encoder_num_heads": 16,
              "encoder_global_attn_indexes": [7, 15, 23, 31]},
    "vit_l": {"encoder_embed_dim": 1024, "encoder_depth": 24, "encoder_num_heads": 16,
              "encoder_global_attn_indexes": [5, 11, 17, 23]},
    "vit_b": {"encoder_embed_dim": 768, "encoder_depth": 12, "encoder_num_heads": 12,
              "encoder_global_attn_indexes": [2, 5, 8, 11]},
}
SAM_DEFAULTS = {"image_size": 1024, "patch_size": 16, "prompt_embed_dim": 256, "window_size": 14,
                "decoder_mlp_dim": 2048, "decoder_num_heads": 8, "iou_head_hidden_dim": 256}


def build_sam(dims: Mapping[str, Any]):
    """segment-anything's `_build_sam` with every size a parameter (random weights, eval mode)."""
    from functools import partial

    import torch
    from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                           TwoWayTransformer)

    d = {**SAM_DEFAULTS, **dims}
    emb, size, patch = d["prompt_embed_dim"], d["image_size"], d["patch_size"]
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=d["encoder_depth"], embed_dim=d["encoder_embed_dim"], img_size=size, mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=d["encoder_num_heads"],
            patch_size=patch, qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=list(d["encoder_global_attn_indexes"]),
            window_size=d["window_size"], out_chans=emb),
        prompt_encoder=PromptEncoder(
            embed_dim=emb, image_embedding_size=(size // patch, size // patch),
            input_image_size=(size, size), mask_in_chans=16),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=emb, mlp_dim=d["decoder_mlp_dim"],
                                          num_heads=d["decoder_num_heads"]),
            transformer_dim=emb, iou_head_depth=3, iou_head_hidden_dim=d["iou_head_hidden_dim"]),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


def load_sam(variant: Union[str, Mapping[str, Any]], checkpoint_path: Union[str, os.PathLike],
             device: Union[str, "torch.device"] = "cpu"):
    """SAM model with weights from a segment-anything checkpoint (a torch-saved state dict).

    variant: "vit_h" | "vit_l" | "vit_b", or a dict of sizes (keys of SAM_VARIANTS/SAM_DEFAULTS).
    Returns `segment_anything.modeling.Sam` in eval mode on `device`; wrap it in
    `segment_anything.SamPredictor` (set_image once, predict(box=...) many times).
    """
    import torch

    if isinstance(variant, str):
        if variant not in SAM_VARIANTS:
            raise EngineUnavailable(f"unknown SAM variant '{variant}' (use {', '.join(SAM_VARIANTS)})")
        dims, name = SAM_VARIANTS[variant], variant
    else:
        dims, name = dict(variant), "custom"
    path = _check_file(Path(checkpoint_path), f"SAM {name}")
    sam = build_sam(dims)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        sam.load_state_dict(state, strict=True)
    except Exception as exc:
        raise EngineUnavailable(
            f"SAM {name} weights {path} do not load ({str(exc).splitlines()[0][:300]}); the file "
            "may be truncated or be another SAM variant") from None
    return sam.to(torch.device(device)).eval()


def load_sam_model(model_id: str, device: Union[str, "torch.device"] = "cpu", *,
                   manifest: Optional[Manifest] = None, root: Optional[Path] = None):
    """`load_sam` for a manifest id (options.variant, or options.dims for custom sizes)."""
    manifest, root = resolve(manifest, root)
    spec = manifest.get(model_id)
    variant = spec.options.get("dims") or spec.options.get("variant", "vit_h")
    return load_sam(variant, locate(model_id, manifest=manifest, root=root), device)


# ----------------------------------------------------------------------------- transformers / diffusers

def _check_folder(folder: Union[str, os.PathLike], marker: str, what: str) -> Path:
    folder = Path(folder)
    if not (folder / marker).is_file():
        raise EngineUnavailable(f"{what}: {folder} is not a model folder (no {marker}); "
                                "run `inspector models import PATH`")
    for weights in sorted(folder.rglob("*.safetensors")):  # before transformers/diffusers parse them
        try:
            read_header(weights)
        except SafetensorsError as exc:
            rel = weights.relative_to(folder).as_posix()
            raise EngineUnavailable(f"{what} in {folder}: {rel} is not a valid safetensors file "
                                    f"({exc.reason}) — re-import it with `inspector models "
                                    "import PATH`") from None
        except OSError as exc:
            raise EngineUnavailable(f"{what} in {folder}: {weights.name} cannot be read "
                                    f"({exc.strerror or exc})") from None
    return folder


def load_grounding_dino(folder: Union[str, os.PathLike], device: Union[str, "torch.device"] = "cpu"):
    """Grounding DINO from a transformers `save_pretrained` folder.

    Returns (GroundingDinoForObjectDetection in eval mode on `device`, its processor). Use
    `processor(images=..., text="scratch. dent.", return_tensors="pt")` and
    `processor.post_process_grounded_object_detection(...)`.
    """
    import torch
    from transformers import AutoProcessor, GroundingDinoForObjectDetection

    folder = _check_folder(folder, "config.json", "Grounding DINO")
    try:
        model = GroundingDinoForObjectDetection.from_pretrained(folder, local_files_only=True)
        processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise EngineUnavailable(f"Grounding DINO in {folder} does not load "
                                f"({str(exc).splitlines()[0][:300]})") from None
    return model.to(torch.device(device)).eval(), processor


PIPELINE_KINDS = {"text2img": "StableDiffusionPipeline", "img2img": "StableDiffusionImg2ImgPipeline",
                  "inpaint": "StableDiffusionInpaintPipeline"}


def load_diffusers_pipeline(folder: Union[str, os.PathLike], kind: str,
                            device: Union[str, "torch.device"] = "cpu",
                            dtype: Optional["torch.dtype"] = None):
    """A Stable Diffusion pipeline from a diffusers `save_pretrained` folder.

    kind: "text2img" | "img2img" | "inpaint" (img2img reuses a text2img folder's components).
    Loads in float32 on the CPU unless `dtype`/`device` say otherwise; no safety checker.
    """
    import diffusers
    import torch

    if kind not in PIPELINE_KINDS:
        raise EngineUnavailable(f"unknown pipeline kind '{kind}' (use {', '.join(PIPELINE_KINDS)})")
    folder = _check_folder(folder, "model_index.json", "Stable Diffusion")
    cls = getattr(diffusers, PIPELINE_KINDS[kind])
    extra = {}
    if dtype is not None:  # float32 is the default; newer diffusers renamed torch_dtype to dtype
        from diffusers.pipelines import pipeline_utils

        extra["dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"] = dtype
    try:
        pipe = cls.from_pretrained(folder, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False, local_files_only=True, **extra)
    except Exception as exc:
        raise EngineUnavailable(f"Stable Diffusion ({kind}) in {folder} does not load "
                                f"({str(exc).splitlines()[0][:300]})") from None
    return pipe.to(torch.device(device))


# ----------------------------------------------------------------------------- IAP-AS (by manifest id)

def load_grounding_dino_model(model_id: str, device: Union[str, "torch.device"] = "cpu", *,
                              manifest: Optional[Manifest] = None, root: Optional[Path] = None):
    """`load_grounding_dino` for a manifest id (a transformers_folder entry)."""
    manifest, root = resolve(manifest, root)
    spec = manifest.get(model_id)
    if spec.kind != "transformers_folder":
        raise EngineUnavailable(f"{model_id} is a {spec.kind}, not a Grounding DINO folder")
    return load_grounding_dino(locate(model_id, manifest=manifest, root=root), device)


def load_causal_lm(folder: Union[str, os.PathLike], device: Union[str, "torch.device"] = "cpu"):
    """Any transformers causal LM from a `save_pretrained` folder (with its tokenizer).

    Returns (AutoModelForCausalLM in eval mode on `device`, tokenizer). Used by IAP-AS to turn
    a product's tags into defect words when a local instruction-tuned LLM is installed.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = _check_folder(folder, "config.json", "causal LM")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise EngineUnavailable(f"causal LM in {folder} does not load "
                                f"({str(exc).splitlines()[0][:300]})") from None
    return model.to(torch.device(device)).eval(), tokenizer


def load_multimodal(folder: Union[str, os.PathLike], device: Union[str, "torch.device"] = "cpu"):
    """An image-text-to-text model (LLaVA, LLaVA-OneVision, ...) from a `save_pretrained` folder.

    Returns (AutoModelForImageTextToText in eval mode on `device`, its processor). Used by
    IAP-AS's optional describe-then-segment mode, which asks it what is wrong with an image.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = _check_folder(folder, "config.json", "multimodal model")
    try:
        processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        model = AutoModelForImageTextToText.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise EngineUnavailable(f"multimodal model in {folder} does not load "
                                f"({str(exc).splitlines()[0][:300]})") from None
    return model.to(torch.device(device)).eval(), processor
