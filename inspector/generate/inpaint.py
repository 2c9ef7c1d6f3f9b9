"""Prompt inpainting (Anomagic style, seed 000): Stable Diffusion 1.5 inpainting repaints a masked
region of a good image with the prompt "a photo of a {object} with a {defect}".

The mask comes from the request: the drawn region (context.region) ∩ foreground, else an
irregular blob placed on the foreground (radius ~ scale x 12 % of the short side). Optional LoRA
weights (a diffusers LoRA folder, manifest id or path) are loaded with `pipe.load_lora_weights`.
A sample is kept only when the change lies inside the mask and is large enough (alignment check:
mean change inside / outside >= min_contrast and changed fraction of the mask >= min_area);
otherwise the next seed is tried, `retries` times in all, then the sample is reported as failed.
Output through the contract: mask = real change ∩ requested mask; every pixel outside it is the
good image's, exactly (as Anomagic and NSA paste back).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..core.errors import EngineUnavailable, InspectorError
from ..core.progress import check_cancel, report
from .contract import Availability, DefectSpec, GenerationContext, Sample, change_map, check_inputs, derive_mask

log = logging.getLogger(__name__)

INPAINT_VERSION = "inpaint-1"
DEFAULT_MODEL = "sd15-inpainting"


@dataclass
class InpaintParams:
    """Every constant of the method."""

    steps: int = 50
    guidance: float = 7.5
    strength: float = 1.0  # 1: the masked region is repainted from pure noise
    size: int = 512  # working size (pixels, square)
    min_side: int = 64
    change_tolerance: int = 10  # grey levels: a VAE round trip alone changes pixels a little
    min_contrast: float = 1.5  # mean change inside the mask / outside it
    min_area: float = 0.05  # fraction of the mask that must change
    retries: int = 3  # seeds tried before the sample is reported as failed
    radius: float = 0.12  # sampled blob radius, fraction of the short side (times defect.scale)
    prompt_template: str = "a photo of a {object} with a {defect}"
    negative_prompt: str = ""
    model: str = DEFAULT_MODEL  # manifest id, or a diffusers folder path
    lora: str = ""  # manifest id or folder of diffusers LoRA weights; "" for none
    lora_scale: float = 1.0
    device: str = "auto"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "InpaintParams":
        known = set(cls.__dataclass_fields__)
        out = cls()
        for k, v in params.items():
            if k.startswith("inpaint_") and k[8:] in known:
                k = k[8:]
            if k in known:
                setattr(out, k, type(getattr(out, k))(v))
        if out.steps < 1 or out.retries < 1 or not 0 < out.strength <= 1:
            raise InspectorError(f"inpainting needs steps >= 1, retries >= 1 and 0 < strength <= 1 (got "
                                 f"{out.steps}, {out.retries}, {out.strength}) — use the defaults 50, 3 and 1")
        return out


def _folder(name: str) -> Path:
    from ..weights.loaders import locate

    return Path(name) if Path(name).is_dir() else locate(name)


def lora_folder(name: str) -> Path:
    """A LoRA folder: a path, or a sub-folder of the models folder holding .safetensors weights
    (LoRAs are the engineer's own, so they are not manifest entries)."""
    from ..weights.locations import resolve

    if Path(name).is_dir():
        return Path(name)
    root = resolve()[1]
    folder = root / name
    if folder.is_dir() and any(folder.glob("*.safetensors")):
        return folder
    raise EngineUnavailable(f"LoRA weights '{name}' are not in the models folder ({root}) — copy the diffusers "
                            f"LoRA folder (pytorch_lora_weights.safetensors) to {folder}")


def availability(**params: Any) -> Availability:
    """Whether the inpainting weights (and the LoRA, when one is named) are in the models folder."""
    model = str(params.get("model", params.get("inpaint_model", DEFAULT_MODEL)))
    try:
        _folder(model)
    except EngineUnavailable as exc:
        return Availability(False, str(exc).split(". ")[0], "run `inspector models import PATH` "
                            f"(or `inspector models download {model}` when online)")
    lora = str(params.get("lora", params.get("inpaint_lora", "")))
    if lora:
        try:
            lora_folder(lora)
        except EngineUnavailable as exc:
            missing, fix = str(exc).split(" — ", 1)
            return Availability(False, missing, fix)
    return Availability(True)


_CACHE: dict[tuple[str, str, str], Any] = {}


def load_pipeline(model: str = DEFAULT_MODEL, device: str = "auto", lora: str = ""):  # noqa: ANN201
    """StableDiffusionInpaintPipeline from the models folder through the real loader; fp16 + SDPA on
    CUDA, float32 on the CPU; LoRA weights loaded through diffusers/peft. Cached per (model, device, lora)."""
    import torch

    from ..weights.loaders import load_diffusers_pipeline

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    key = (model, device, lora)
    if key in _CACHE:
        return _CACHE[key]
    pipe = load_diffusers_pipeline(_folder(model), "inpaint", device, torch.float16 if device == "cuda" else None)
    from diffusers.models.attention_processor import AttnProcessor2_0

    pipe.unet.set_attn_processor(AttnProcessor2_0())  # fused SDPA kernel
    pipe.set_progress_bar_config(disable=True)
    if lora:
        try:
            pipe.load_lora_weights(str(lora_folder(lora)))
        except (ValueError, OSError, ImportError) as exc:
            raise EngineUnavailable(f"LoRA weights '{lora}' do not load ({str(exc).splitlines()[0][:300]}) "
                                    f"— save it with diffusers' save_lora_weights (pytorch_lora_weights.safetensors)") from None
    if device == "cpu":
        log.warning("inpainting runs on the CPU: expect 2-5 minutes per 512 px sample at 50 steps "
                    "(a GPU takes seconds)")
    _CACHE[key] = pipe
    return pipe


def request_mask(allowed: np.ndarray, region: Optional[np.ndarray], defect: DefectSpec, p: InpaintParams,
                 rng: np.random.Generator) -> np.ndarray:
    """The mask to repaint: the drawn region ∩ foreground, else a blob on the foreground."""
    from .shapes import box_around, blob_field, pick_centre

    if region is not None and np.asarray(region, bool).any():
        return allowed
    h, w = allowed.shape
    r = max(3.0, p.radius * defect.scale * min(h, w))
    cx, cy = pick_centre(allowed, r, rng)
    box = box_around(cx, cy, r, allowed.shape)
    out = np.zeros((h, w), bool)
    y0, y1, x0, x1 = box
    out[y0:y1, x0:x1] = blob_field(box, cx, cy, r, rng, 0.2) > 0
    return out & allowed


def alignment(before: np.ndarray, after: np.ndarray, mask: np.ndarray, tolerance: int) -> dict[str, float]:
    """How well the change sits in the mask: mean change inside / outside and the changed
    fraction of the mask."""
    change = change_map(before, after).astype(np.float32)
    inside = float(change[mask].mean()) if mask.any() else 0.0
    outside = float(change[~mask].mean()) if (~mask).any() else 0.0
    return {"inside": inside, "outside": outside, "contrast": inside / max(outside, 1e-3),
            "area": float((change[mask] > tolerance).mean()) if mask.any() else 0.0}


def aligned(stats: dict[str, float], p: InpaintParams) -> bool:
    return stats["contrast"] >= p.min_contrast and stats["area"] >= p.min_area


def _paint(pipe, image: np.ndarray, mask: np.ndarray, prompt: str, p: InpaintParams, seed: int,  # noqa: ANN001
           progress, cancel, label: str) -> np.ndarray:  # noqa: ANN001
    """One pipeline call at the working size; cancel is checked between steps."""
    import cv2
    import torch
    from PIL import Image

    h, w = image.shape[:2]
    img = Image.fromarray(cv2.resize(image, (p.size, p.size), interpolation=cv2.INTER_AREA))
    m = Image.fromarray(cv2.resize(mask.astype(np.uint8) * 255, (p.size, p.size), interpolation=cv2.INTER_NEAREST))
    total = max(1, int(p.steps * p.strength))
    began = time.perf_counter()

    def on_step(_pipe, i, _t, kwargs):  # noqa: ANN001, ANN202
        msg = f"inpaint {label}step {i + 1} of {total}"
        if i == 0:  # this machine's estimate, as the CPU warning promises
            msg += f" (about {(time.perf_counter() - began) * total / 60:.1f} min per sample on {_pipe.device})"
        report(progress, i + 1, total, msg)
        check_cancel(cancel)  # raises Cancelled between steps; nothing is written yet
        return kwargs

    check_cancel(cancel)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    out = pipe(prompt=prompt, negative_prompt=p.negative_prompt or None, image=img, mask_image=m,
               height=p.size, width=p.size, strength=p.strength, num_inference_steps=p.steps,
               guidance_scale=p.guidance, generator=gen, output_type="np", callback_on_step_end=on_step,
               cross_attention_kwargs={"scale": p.lora_scale} if p.lora else None).images[0]
    out = (np.clip(out, 0, 1) * 255).round().astype(np.uint8)
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC if p.size < h else cv2.INTER_AREA)


def generate_inpaint(image: np.ndarray, foreground: Optional[np.ndarray], defect: DefectSpec, seed: int,
                     context: GenerationContext) -> Sample:
    """The contract's inpainting method (see the module docstring)."""
    import diffusers
    import torch

    p = InpaintParams.from_params(context.params)
    allowed = check_inputs(image, foreground, context.region, min_side=p.min_side)
    word = defect.word.strip()
    if not word:
        raise InspectorError("inpainting needs a defect word for its prompt — give --defect WORD "
                             "or add defect words to the product")
    pipe = load_pipeline(p.model, p.device, p.lora)
    prompt = p.prompt_template.format(object=str(context.params.get("object", "object")), defect=word)
    tries: list[dict[str, Any]] = []
    for k in range(p.retries):
        s = int(seed) + k
        mask = request_mask(allowed, context.region, defect, p, np.random.default_rng(s))
        label = f"try {k + 1} of {p.retries}: " if k else ""
        out = _paint(pipe, image, mask, prompt, p, s, context.progress, context.cancel, label)
        stats = alignment(image, out, mask, p.change_tolerance)
        tries.append({"seed": s, **{n: round(v, 4) for n, v in stats.items()}})
        if aligned(stats, p):
            final, real = derive_mask(image, out, mask, p.change_tolerance)
            recipe = {"method": "inpaint", "version": INPAINT_VERSION, "seed": int(seed), "used_seed": s,
                      "defect": defect.to_json(), "prompt": prompt, "params": dict(context.params),
                      "settings": asdict(p), "tolerance": p.change_tolerance, "area_px": int(real.sum()),
                      "requested_px": int(mask.sum()), "alignment": tries,
                      "model_versions": {"diffusers": diffusers.__version__, "torch": torch.__version__,
                                         "model": p.model, "lora": p.lora}}
            return Sample(final, real, recipe)
        log.info("inpainting seed %d: change not aligned with the mask (%s); trying the next seed", s, stats)
    last = tries[-1]
    raise InspectorError(f"inpainting did not change the masked region enough after {p.retries} seeds "
                         f"(last: contrast {last['contrast']:.2f} < {p.min_contrast} or changed area "
                         f"{last['area']:.2f} < {p.min_area}) — raise steps or guidance, or lower "
                         f"min_contrast/min_area")
