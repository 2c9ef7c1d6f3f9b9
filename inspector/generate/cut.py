"""CUT (seed 001, section 4.1 and appendix A.1): training-free anomaly generation with Stable
Diffusion 1.5, written as its own attention processor and denoising loop.

1. The normal image's VAE latent is noised to step t_start = T(1 - γ) of a T-step DDIM schedule.
2. Prompt "a photo of a [object] that is [defect]"; the defect word's tokens are found in the
   tokenised prompt automatically.
3. At each step, while optimising, the cross-attention maps at 16x16 (for 512 px; the closest
   resolution the UNet has otherwise) are averaged over layers and heads, softmaxed over the
   prompt's tokens (start token excluded) and smoothed with a 3x3 Gaussian (Eq. 3).
   L = 1 - max(A_defect ⊙ foreground); z_t <- z_t - α_t ∇L ⊙ foreground (Eq. 4), repeated until
   the max passes the step's threshold (0.05 / 0.5 / 0.8 over the schedule, as attend-and-excite),
   α_t = λ(1 + Δt·t)·n_t / n_t_start, λ = 10, Δt = 1/T (Eq. 5), n = attention pixels above the
   mean. After the first 10 steps the optimisation stops once 10 < n_t < 50 (a band given for a
   16x16 map; scaled by area for other map sizes).
4. Only the layers being read store attention, and only while optimising (or at the last step);
   every other layer, and every pass outside the optimisation, keeps the fused SDPA kernel.
Output: the image, the final smoothed attention map as a soft mask, and the binary mask: the
pixels that changed by more than `change_tolerance` inside (attention >= mask_threshold) ∩
foreground; every other pixel keeps the good image's value.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np

from ..core.errors import EngineUnavailable, InspectorError
from ..core.progress import check_cancel, report
from .contract import Availability, DefectSpec, GenerationContext, Sample, check_inputs, derive_mask

log = logging.getLogger(__name__)

CUT_VERSION = "cut-1"
DEFAULT_MODEL = "sd15"


@dataclass
class CutParams:
    """Every constant of the method; the defaults are the paper's."""

    steps: int = 200  # T: DDIM inference steps (50 is a faster option)
    gamma: float = 0.25  # start at t_start = T (1 - gamma)
    lam: float = 10.0  # λ of Eq. 5
    thresholds: tuple[float, float, float] = (0.05, 0.5, 0.8)
    threshold_steps: tuple[int, int, int] = (0, 10, 20)  # optimisation steps where each threshold starts
    max_refine: int = 20  # at most this many updates per step
    early_after: int = 10  # early stop allowed after this many steps
    early_band: tuple[float, float] = (10.0, 50.0)  # stop when lo < n_t < hi (for a 16x16 map)
    attention_res: int = 16
    sigma: float = 0.5  # Gaussian smoothing of Eq. 3 (3x3 kernel)
    token_scale: float = 100.0  # attention scaled before the softmax over tokens (attend-and-excite)
    guidance: float = 7.5  # classifier-free guidance of the denoising pass
    size: int = 512  # working size (pixels, square)
    min_side: int = 64
    mask_threshold: float = 0.5  # on the soft mask, normalised to its maximum
    change_tolerance: int = 10  # grey levels: a VAE round trip alone changes pixels a little
    prompt_template: str = "a photo of a {object} that is {defect}"
    model: str = DEFAULT_MODEL  # manifest id, or a diffusers folder path
    device: str = "auto"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "CutParams":
        known = {f for f in cls.__dataclass_fields__}
        out = cls()
        for k, v in params.items():
            if k.startswith("cut_") and k[4:] in known:
                k = k[4:]
            if k in known:
                cur = getattr(out, k)
                setattr(out, k, tuple(v) if isinstance(cur, tuple) else type(cur)(v))
        if out.steps < 2 or not 0 < out.gamma < 1:
            raise InspectorError(f"CUT needs steps >= 2 and 0 < gamma < 1 (got {out.steps}, {out.gamma}) "
                                 f"— use the defaults 200 and 0.25")
        return out


def availability(**params: Any) -> Availability:
    """Whether the SD 1.5 weights named by params["model"] (default sd15) are here."""
    from pathlib import Path

    from ..weights.loaders import locate

    model = str(params.get("model", params.get("cut_model", DEFAULT_MODEL)))
    if Path(model).is_dir():
        return Availability(True)
    try:
        locate(model)
    except EngineUnavailable as exc:
        return Availability(False, str(exc).split(". ")[0], "run `inspector models import PATH` "
                            f"(or `inspector models download {model}` when online)")
    return Availability(True)


# ---------------------------------------------------------------------------- attention
class AttentionStore:
    """Cross-attention probabilities of the read layers, averaged over heads, while active."""

    def __init__(self, hw: int) -> None:
        self.hw, self.active, self.maps = hw, False, []

    def start(self) -> None:
        self.active, self.maps = True, []

    def stop(self) -> None:
        self.active = False

    def mean(self):  # noqa: ANN201 - torch tensor (B, hw, tokens)
        import torch

        return torch.stack(self.maps).mean(0)


class CutAttnProcessor:
    """Cross-attention that stores its probabilities when its store is active and its query
    grid is the one read; otherwise it is diffusers' fused SDPA processor."""

    def __init__(self, store: AttentionStore) -> None:
        from diffusers.models.attention_processor import AttnProcessor2_0

        self.store, self.fused = store, AttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None,  # noqa: ANN001, ANN204
                 temb=None, *args, **kwargs):
        if not (self.store.active and encoder_hidden_states is not None and hidden_states.ndim == 3
                and hidden_states.shape[1] == self.store.hw):
            return self.fused(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        import torch

        residual = hidden_states
        b = hidden_states.shape[0]
        q = attn.head_to_batch_dim(attn.to_q(hidden_states))
        k = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
        v = attn.head_to_batch_dim(attn.to_v(encoder_hidden_states))
        probs = attn.get_attention_scores(q, k, None)  # (b * heads, hw, tokens)
        self.store.maps.append(probs.view(b, -1, *probs.shape[1:]).mean(1))
        out = attn.batch_to_head_dim(torch.bmm(probs, v))
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def attention_grids(unet, latent_hw: tuple[int, int]) -> list[int]:  # noqa: ANN001
    """Query lengths of the UNet's cross-attention layers at this latent size."""
    h, w = latent_hw
    out = set()
    for k, kind in enumerate(unet.config.down_block_types):
        if "CrossAttn" in kind:
            out.add((h >> k) * (w >> k))
    n = len(unet.config.up_block_types)
    for k, kind in enumerate(unet.config.up_block_types):
        if "CrossAttn" in kind:
            d = n - 1 - k
            out.add((h >> d) * (w >> d))
    if "CrossAttn" in str(getattr(unet.config, "mid_block_type", "")):
        d = len(unet.config.down_block_types) - 1
        out.add((h >> d) * (w >> d))
    return sorted(out)


def find_tokens(tokenizer, prompt_ids: list[int], word: str) -> list[int]:  # noqa: ANN001
    """Positions of `word`'s tokens in the tokenised prompt (the last occurrence)."""
    ids = tokenizer(word, add_special_tokens=False).input_ids
    n = len(ids)
    for start in range(len(prompt_ids) - n, -1, -1):
        if n and prompt_ids[start:start + n] == ids:
            return list(range(start, start + n))
    raise InspectorError(f"the defect word '{word}' is not in the tokenised prompt (it may be cut off by the "
                         f"tokenizer's {tokenizer.model_max_length}-token limit) — use a shorter prompt or word")


def _gaussian(maps, sigma: float):  # noqa: ANN001, ANN202 - (B, h, w) -> (B, h, w), differentiable
    import torch
    import torch.nn.functional as F

    x = torch.arange(3, dtype=maps.dtype, device=maps.device) - 1
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    k = (g[:, None] * g[None]) / (g.sum() ** 2)
    out = F.conv2d(F.pad(maps[:, None], (1, 1, 1, 1), mode="reflect"), k[None, None])
    return out[:, 0]


@dataclass
class CutModel:
    """Loaded components: VAE, UNet, text encoder + tokenizer, DDIM scheduler."""

    vae: Any
    unet: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any
    device: str
    dtype: Any
    name: str
    versions: dict[str, str] = field(default_factory=dict)


_CACHE: dict[tuple[str, str], CutModel] = {}


def load_model(model: str = DEFAULT_MODEL, device: str = "auto") -> CutModel:
    """SD 1.5 components from the models folder (manifest id) or a diffusers folder path;
    fp16 + SDPA on CUDA, float32 on the CPU. Cached per (model, device)."""
    from pathlib import Path

    import torch

    from ..weights.loaders import load_diffusers_pipeline, locate

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    key = (model, device)
    if key in _CACHE:
        return _CACHE[key]
    folder = Path(model) if Path(model).is_dir() else locate(model)
    dtype = torch.float16 if device == "cuda" else torch.float32
    pipe = load_diffusers_pipeline(folder, "text2img", device, dtype if device == "cuda" else None)
    from diffusers import DDIMScheduler

    import diffusers

    m = CutModel(pipe.vae, pipe.unet, pipe.text_encoder, pipe.tokenizer,
                 DDIMScheduler.from_config(pipe.scheduler.config), device, dtype, str(model),
                 {"diffusers": diffusers.__version__, "torch": torch.__version__, "model": str(model)})
    for part in (m.vae, m.unet, m.text_encoder):
        part.requires_grad_(False)
    if device == "cpu":
        log.warning("CUT runs on the CPU: expect minutes per 512 px sample (a GPU takes seconds)")
    _CACHE[key] = m
    return m


class CutRun:
    """One CUT generation; `run()` returns (image uint8, soft mask float32, recipe)."""

    def __init__(self, model: CutModel, params: CutParams, image: np.ndarray, foreground: np.ndarray,
                 object_name: str, defect: str, seed: int, progress=None, cancel=None) -> None:  # noqa: ANN001
        import torch

        self.m, self.p = model, params
        self.image, self.fg = image, foreground
        self.seed, self.progress, self.cancel = seed, progress, cancel
        self.prompt = params.prompt_template.format(object=object_name, defect=defect)
        tok = model.tokenizer(self.prompt, padding="max_length", max_length=model.tokenizer.model_max_length,
                              truncation=True)
        self.ids = list(tok.input_ids)
        eos = model.tokenizer.eos_token_id
        self.n_text = self.ids.index(eos) if eos in self.ids[1:] else len(self.ids)  # tokens before EOT
        self.defect_pos = find_tokens(model.tokenizer, self.ids, defect)
        vf = 2 ** (len(model.vae.config.block_out_channels) - 1)
        self.latent_hw = (params.size // vf, params.size // vf)
        grids = attention_grids(model.unet, self.latent_hw)
        target = params.attention_res ** 2
        self.hw = min(grids, key=lambda g: (abs(math.log(g / target)), -g))
        self.res = int(round(math.sqrt(self.hw)))
        self.store = AttentionStore(self.hw)
        self.processors = {name: CutAttnProcessor(self.store) if name.endswith("attn2.processor") else proc
                           for name, proc in model.unet.attn_processors.items()}
        self.band = tuple(b * self.hw / 256 for b in params.early_band)
        with torch.no_grad():
            ids = torch.tensor([self.ids], device=model.device)
            empty = model.tokenizer("", padding="max_length", max_length=model.tokenizer.model_max_length,
                                    truncation=True, return_tensors="pt").input_ids.to(model.device)
            self.cond = model.text_encoder(ids)[0]
            self.uncond = model.text_encoder(empty)[0]
        self.log: list[dict[str, float]] = []

    # -- pieces (tested one by one) --
    def _masks(self):  # noqa: ANN202
        import cv2
        import torch

        fg = self.fg.astype(np.float32)
        small = cv2.resize(fg, (self.res, self.res), interpolation=cv2.INTER_AREA) > 0.5
        lat = cv2.resize(fg, (self.latent_hw[1], self.latent_hw[0]), interpolation=cv2.INTER_AREA) > 0.5
        if not small.any():
            small = cv2.resize(fg, (self.res, self.res), interpolation=cv2.INTER_AREA) > 0
        dev, dt = self.m.device, self.m.dtype
        return (torch.tensor(small, device=dev, dtype=dt), torch.tensor(lat, device=dev, dtype=dt)[None, None])

    def encode(self):  # noqa: ANN201
        import cv2
        import torch

        x = cv2.resize(self.image, (self.p.size, self.p.size), interpolation=cv2.INTER_AREA)
        t = torch.tensor(x, device=self.m.device, dtype=self.m.dtype).permute(2, 0, 1)[None] / 127.5 - 1
        with torch.no_grad():
            return self.m.vae.encode(t).latent_dist.mean * self.m.vae.config.scaling_factor

    def defect_map(self, latent, t):  # noqa: ANN001, ANN201
        """Smoothed attention of the defect token (res, res) for `latent` at step t (Eq. 3)."""
        import torch

        self.store.start()
        try:
            self.m.unet(latent, t, encoder_hidden_states=self.cond)
        finally:
            self.store.stop()
        a = self.store.mean()[0]  # (hw, tokens)
        text = a[:, 1:self.n_text] * self.p.token_scale
        text = torch.softmax(text, dim=-1)
        pos = [i - 1 for i in self.defect_pos if 0 < i < self.n_text]
        amap = text[:, pos].mean(-1).reshape(1, self.res, self.res)
        return _gaussian(amap, self.p.sigma)[0]

    def threshold_at(self, i: int) -> float:
        thr = self.p.thresholds[0]
        for start, value in zip(self.p.threshold_steps, self.p.thresholds):
            if i >= start:
                thr = value
        return thr

    def optimise(self, latent, t, i: int, t_remaining: int, fg_small, fg_lat):  # noqa: ANN001, ANN201
        """Eq. 4 with the step size of Eq. 5, repeated until the max passes the step's
        threshold. Returns (latent, {max_before, max_after, n_t, updates})."""
        import torch

        thr = self.threshold_at(i)
        first = None
        updates = 0
        with torch.enable_grad():
            while True:
                latent = latent.detach().requires_grad_(True)
                amap = self.defect_map(latent, t)
                peak = (amap * fg_small).max()
                n_t = int((amap > amap.mean()).sum())
                if first is None:
                    first = float(peak.detach())
                    if self.n_start is None:
                        self.n_start = max(n_t, 1)
                if updates > 0 and (float(peak.detach()) >= thr or updates >= self.p.max_refine):
                    break
                loss = 1 - peak
                grad = torch.autograd.grad(loss, latent)[0]
                alpha = self.p.lam * (1 + t_remaining / self.p.steps) * n_t / self.n_start
                latent = latent - alpha * grad * fg_lat
                updates += 1
        return latent.detach(), {"step": i, "max_before": first, "max_after": float(peak.detach()), "n_t": n_t,
                                 "updates": updates, "threshold": thr}

    def run(self):  # noqa: ANN201
        import torch

        p, m = self.p, self.m
        m.unet.set_attn_processor(self.processors)
        sched = m.scheduler
        sched.set_timesteps(p.steps, device=m.device)
        t_start = int(p.steps * (1 - p.gamma))
        timesteps = sched.timesteps[p.steps - t_start:]
        fg_small, fg_lat = self._masks()
        gen = torch.Generator(device="cpu").manual_seed(int(self.seed))
        z0 = self.encode()
        noise = torch.randn(z0.shape, generator=gen, dtype=torch.float32).to(m.device, m.dtype)
        latent = sched.add_noise(z0, noise, timesteps[:1])
        self.n_start = None
        optimising, stopped_at = True, None
        total = len(timesteps)
        began = time.perf_counter()
        amap = None
        for i, t in enumerate(timesteps):
            check_cancel(self.cancel)
            t_remaining = total - i
            if optimising:
                latent, info = self.optimise(latent, t, i, t_remaining, fg_small, fg_lat)
                self.log.append(info)
                if i >= p.early_after and self.band[0] < info["n_t"] < self.band[1]:
                    optimising, stopped_at = False, i
            last = i == total - 1
            with torch.no_grad():
                if last:
                    self.store.start()  # the final map, read from the conditional half
                try:
                    eps = m.unet(torch.cat([latent, latent]), t,
                                 encoder_hidden_states=torch.cat([self.uncond, self.cond])).sample
                finally:
                    self.store.stop()
                if last:
                    a = self.store.mean()[1]
                    text = torch.softmax(a[:, 1:self.n_text] * p.token_scale, dim=-1)
                    pos = [k - 1 for k in self.defect_pos if 0 < k < self.n_text]
                    amap = _gaussian(text[:, pos].mean(-1).reshape(1, self.res, self.res), p.sigma)[0]
                e_u, e_c = eps.chunk(2)
                latent = sched.step(e_u + p.guidance * (e_c - e_u), t, latent).prev_sample
            if i == 0:
                per = (time.perf_counter() - began) * total / 60
                report(self.progress, 1, total, f"CUT step 1 of {total} (about {per:.1f} min per sample on {m.device})")
            else:
                report(self.progress, i + 1, total, f"CUT step {i + 1} of {total}")
        with torch.no_grad():
            x = m.vae.decode(latent / m.vae.config.scaling_factor).sample
        out = ((x[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
        soft = (amap * fg_small).float().cpu().numpy()
        recipe = {"prompt": self.prompt, "defect_tokens": self.defect_pos, "attention_grid": self.res,
                  "t_start": t_start, "early_stop_step": stopped_at,
                  "optimisation": self.log, "params": {k: (list(v) if isinstance(v, tuple) else v)
                                                        for k, v in asdict(p).items()}}
        return out, soft, recipe


def generate_cut(image: np.ndarray, foreground: Optional[np.ndarray], defect: DefectSpec, seed: int,
                 context: GenerationContext) -> Sample:
    """The contract's CUT method (see the module docstring)."""
    import cv2

    p = CutParams.from_params(context.params)
    allowed = check_inputs(image, foreground, context.region, min_side=p.min_side)
    if not defect.word.strip():
        raise InspectorError("CUT needs a defect word (the prompt's anomaly token) — give --defect WORD "
                             "or add defect words to the product")
    model = load_model(p.model, p.device)
    h, w = image.shape[:2]
    fg_work = cv2.resize(allowed.astype(np.uint8), (p.size, p.size), interpolation=cv2.INTER_NEAREST) > 0
    obj = str(context.params.get("object", "object"))
    run = CutRun(model, p, image, fg_work, obj, defect.word.strip(), seed, context.progress, context.cancel)
    out, soft, extra = run.run()
    out = cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC if out.shape[0] < h else cv2.INTER_AREA)
    soft_full = cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR)
    top = float(soft_full.max())
    soft_full = soft_full / top if top > 0 else soft_full
    region = (soft_full >= p.mask_threshold) & allowed
    final, mask = derive_mask(image, out, region, p.change_tolerance)
    recipe = {"method": "cut", "version": CUT_VERSION, "seed": int(seed), "defect": defect.to_json(),
              "params": dict(context.params), "tolerance": p.change_tolerance, "area_px": int(mask.sum()),
              "model_versions": model.versions, **extra}
    return Sample(final, mask, recipe, soft_mask=soft_full.astype(np.float32))
