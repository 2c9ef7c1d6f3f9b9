"""The frozen CLIP backbone of VLAD with its per-stage linear adapters (seed 001, A.2).

Images go in as uint8 RGB; out come the image token and, for each tapped transformer block,
the adapted patch tokens in CLIP's joint image-text space, L2-normalised. Each adapter is one
linear layer applied after the model's own `ln_post`, initialised with `visual.proj`, so the
untrained adapters already put every stage's tokens where the final image token lands.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Sequence

import numpy as np

from ...core.errors import EngineUnavailable, InspectorError
from .config import VladSettings, stage_blocks


def resize_positional_embedding(visual: Any, image_size: int) -> int:
    """Interpolate a ViT's learned positional embedding (bicubic) to `image_size`; returns the grid.

    The class-token embedding is kept; the patch grid is resized. Input side becomes
    grid * patch (image_size rounded down to a multiple of the patch).
    """
    import torch
    import torch.nn.functional as F

    patch = int(visual.conv1.kernel_size[0])
    new_grid = image_size // patch
    if new_grid < 1:
        raise InspectorError(f"VLAD image_size {image_size} is smaller than one patch ({patch} px)")
    pos = visual.positional_embedding.data
    old_grid = int(round((pos.shape[0] - 1) ** 0.5))
    if old_grid * old_grid != pos.shape[0] - 1:
        raise InspectorError("VLAD needs a square positional-embedding grid with one class token")
    if new_grid != old_grid:
        grid = pos[1:].float().reshape(1, old_grid, old_grid, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic",
                             align_corners=False, antialias=new_grid < old_grid)
        grid = grid.permute(0, 2, 3, 1).reshape(new_grid * new_grid, -1).to(pos.dtype)
        visual.positional_embedding = torch.nn.Parameter(torch.cat([pos[:1], grid]),
                                                         requires_grad=False)
    visual.grid_size = (new_grid, new_grid)
    visual.image_size = (new_grid * patch, new_grid * patch)
    return new_grid


def _build_clip(settings: VladSettings, device: str) -> tuple[Any, Any, Any]:
    """(open_clip model on `device`, weights.loaders.ClipInfo, tokenizer) for these settings.

    An explicit `checkpoint` file is loaded with `model_config` (or open_clip's built-in config
    of `arch`); otherwise the weights manager finds `model_id` in the models folder. Both go
    through `inspector.weights.loaders.load_open_clip`, which raises EngineUnavailable naming
    the model and the import command when the weights are missing or broken.
    """
    from ...weights.loaders import load_open_clip

    if settings.checkpoint:
        source: Any = (settings.arch or settings.model_id, settings.checkpoint,
                       settings.model_config)
    else:
        source = settings.model_id
    return load_open_clip(source, device=device)


class ClipBackbone:
    """Frozen CLIP ViT + trainable per-stage adapters. `encode` is serialised by a lock."""

    def __init__(self, model: Any, info: Any, tokenizer: Any, settings: VladSettings,
                 device: str) -> None:
        """model, info, tokenizer: as returned by `weights.loaders.load_open_clip`."""
        import torch

        visual = getattr(model, "visual", None)
        needed = ("conv1", "positional_embedding", "transformer", "ln_post", "proj")
        if visual is None or not all(hasattr(visual, n) for n in needed) \
                or getattr(visual, "attn_pool", None) is not None or visual.proj is None:
            raise EngineUnavailable(f"VLAD needs a CLIP ViT with a class token and a projection; "
                                    f"'{settings.model_id}' is not one")
        self.device = torch.device(device)
        self.model = model.eval().requires_grad_(False).to(self.device)
        self.visual = visual
        self.tokenizer = tokenizer
        self.info = info
        self.grid = resize_positional_embedding(visual, settings.image_size)
        self.patch = int(visual.conv1.kernel_size[0])
        self.input_size = self.grid * self.patch
        blocks = visual.transformer.resblocks
        self.stages = stage_blocks(settings.stages, settings.n_stages, len(blocks))
        width, embed_dim = visual.proj.shape
        self.embed_dim = int(embed_dim)
        self.adapters = torch.nn.ModuleList(
            [torch.nn.Linear(width, embed_dim) for _ in self.stages]).to(self.device)
        with torch.no_grad():
            for a in self.adapters:
                a.weight.copy_(visual.proj.detach().T.float())
                a.bias.zero_()
        self.adapters.eval()
        self.precision = settings.precision
        self._batch_first = getattr(visual.transformer, "batch_first", True)
        self._captured: dict[int, Any] = {}
        self._lock = threading.Lock()
        for b in self.stages:
            blocks[b - 1].register_forward_hook(self._hook(b))
        self._mean = torch.tensor(info.mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(info.std, device=self.device).view(1, 3, 1, 1)

    def _hook(self, block: int):
        def keep(_module, _inputs, output):
            self._captured[block] = output if self._batch_first else output.transpose(0, 1)
        return keep

    def autocast(self):
        """Mixed precision on CUDA (bf16 where supported unless fp16 asked); none on the CPU."""
        import torch

        if self.device.type != "cuda" or self.precision == "fp32":
            return contextlib.nullcontext()
        bf16 = self.precision == "bf16" or (self.precision == "auto"
                                             and torch.cuda.is_bf16_supported())
        return torch.autocast("cuda", dtype=torch.bfloat16 if bf16 else torch.float16)

    def preprocess(self, images: Sequence[np.ndarray]) -> Any:
        """uint8 RGB (H, W, 3) images -> normalised float tensor (B, 3, S, S), S = input_size."""
        import cv2
        import torch

        s = self.input_size
        out = np.empty((len(images), s, s, 3), np.uint8)
        for i, img in enumerate(images):
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise InspectorError(f"VLAD expects uint8 RGB images (H, W, 3), got "
                                     f"{img.dtype} {img.shape}")
            shrink = img.shape[0] * img.shape[1] > s * s
            out[i] = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA if shrink
                                else cv2.INTER_CUBIC)
        return self.normalise(torch.from_numpy(out).to(self.device))

    def normalise(self, images: Any) -> Any:
        """uint8 tensor (B, S, S, 3) on the device -> normalised float tensor (B, 3, S, S)."""
        x = images.permute(0, 3, 1, 2).float() / 255.0
        return (x - self._mean) / self._std

    def frozen_features(self, x: Any) -> tuple[Any, list[Any]]:
        """What the frozen CLIP gives the adapters, without gradients: (image tokens (B, C)
        L2-normed fp32, [ln_post'd patch tokens (B, grid*grid, width)] per stage). Caller holds
        the lock and the autocast."""
        import torch
        import torch.nn.functional as F

        with torch.no_grad():
            self._captured.clear()
            pooled = self.visual(x)
            if isinstance(pooled, tuple):
                pooled = pooled[0]
            feats = [self.visual.ln_post(self._captured[b][:, 1:, :]) for b in self.stages]
            self._captured.clear()
        return F.normalize(pooled.float(), dim=-1), feats

    def encode(self, x: Any) -> tuple[Any, list[Any]]:
        """(image tokens (B, C), [adapted patch tokens (B, grid*grid, C)] per stage), fp32, L2-normed."""
        import torch.nn.functional as F

        with self._lock, self.autocast():
            image_tok, feats = self.frozen_features(x)
            stage_tokens = [F.normalize(a(f).float(), dim=-1) for a, f in zip(self.adapters, feats)]
        return image_tok, stage_tokens

    def encode_text(self, prompts: Sequence[str], batch: int = 64) -> Any:
        """Mean of the L2-normalised embeddings of `prompts`, L2-normalised again: (C,) fp32."""
        import torch
        import torch.nn.functional as F

        from .text import encode_prompts

        with torch.no_grad(), self.autocast():
            emb = encode_prompts(self.model, self.tokenizer, prompts, self.device, batch)
        return F.normalize(emb.mean(0), dim=-1)

    def adapter_arrays(self) -> dict[str, np.ndarray]:
        """Adapter weights as float32 arrays (copies, never views of the live parameters):
        adapter{k}_weight (C, width), adapter{k}_bias (C,)."""
        out = {}
        for k, a in enumerate(self.adapters):
            out[f"adapter{k}_weight"] = a.weight.detach().float().cpu().numpy().copy()
            out[f"adapter{k}_bias"] = a.bias.detach().float().cpu().numpy().copy()
        return out

    def load_adapter_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        import torch

        with torch.no_grad():
            for k, a in enumerate(self.adapters):
                w, b = arrays[f"adapter{k}_weight"], arrays[f"adapter{k}_bias"]
                if tuple(w.shape) != tuple(a.weight.shape):
                    raise InspectorError(f"saved VLAD adapter {k} has shape {w.shape}, "
                                         f"the model needs {tuple(a.weight.shape)}")
                a.weight.copy_(torch.from_numpy(w))
                a.bias.copy_(torch.from_numpy(b))
