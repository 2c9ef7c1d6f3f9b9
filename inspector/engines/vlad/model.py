"""VLAD: few-shot anomaly scoring with CLIP patch tokens, defect prompts and a memory bank.

Seed 001, section 4.2 and appendix A.2 (after AnomalyGPT / WinCLIP):
  VL map  = sum over stages of softmax(T * adapted patch tokens . [normal, abnormal] text)[abnormal]
  VL score = softmax(T * image token . text)[abnormal]
  VV map  = sum over stages of (1 - max cosine to the stage's bank of reference patches)
  map = w_vl * VL + w_vv * VV (upsampled, Gaussian-smoothed); score = w_vl * VL score + w_vv * max VV.
Raw units: a map value lies in [0, n_stages * (w_vl + 2 w_vv)]; the detector calibrates them.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ...core.errors import EngineUnavailable, InspectorError
from ...core.image_io import atomic_write_bytes
from ...core.progress import CancelFn, ProgressFn, check_cancel, report
from ..base import ScoreModel
from .backbone import ClipBackbone, _build_clip
from .config import VladSettings
from .maps import resize_map, smooth_upsample
from .memory import build_bank, nearest_distance
from .prompts import build_prompts

STATE_JSON = "vlad_state.json"
STATE_ARRAYS = "vlad_arrays.npz"
STATE_FORMAT = 1
# Settings fixed by the fitted state (adapters and banks depend on them); load() keeps the saved ones.
STRUCTURAL = ("model_id", "arch", "model_config", "image_size", "stages", "n_stages", "max_bank",
              "bank_sampling", "seed")


class VladModel(ScoreModel):
    """CLIP few-shot scorer. `fit` builds the text embeddings and memory banks; `score` is
    thread-safe (the backbone forward is serialised)."""

    engine_id = "vlad"
    version = "1"

    def __init__(self, settings: Optional[dict[str, Any]] = None, device: str = "cpu") -> None:
        super().__init__(settings, device)
        self.config = VladSettings.from_dict(self.settings)
        self._backbone: Optional[ClipBackbone] = None
        self.prompts: Optional[tuple[list[str], list[str]]] = None
        self.text_emb: Any = None  # (2, C) float32 on the device: normal, abnormal
        self.banks: Optional[list[Any]] = None  # per stage (n_k, C) float16 on the CPU (saved)
        self._banks_work: list[Any] = []  # the same as float32 on the device
        self.n_references = 0

    @property
    def backbone(self) -> ClipBackbone:
        """The CLIP backbone with adapters, built on first use (loads the weights)."""
        if self._backbone is None:
            import torch

            if self.device.startswith("cuda") and not torch.cuda.is_available():
                raise EngineUnavailable("VLAD was asked to run on CUDA, but no CUDA GPU is usable")
            model, info, tokenizer = _build_clip(self.config, self.device)
            self._backbone = ClipBackbone(model, info, tokenizer, self.config, self.device)
        return self._backbone

    def _ensure_text(self) -> None:
        """(Re)compute the normal/abnormal text embeddings when the prompts changed."""
        import torch

        prompts = build_prompts(self.config.object_name, self.config.defect_words)
        if self.text_emb is not None and self.prompts == prompts:
            return
        bb = self.backbone
        self.text_emb = torch.stack([bb.encode_text(prompts[0]), bb.encode_text(prompts[1])])
        self.prompts = prompts

    def _set_banks(self, banks: list[Any]) -> None:
        import torch

        self.banks = [b.cpu().half().contiguous() for b in banks]
        self._banks_work = [b.to(self.backbone.device, torch.float32) for b in self.banks]

    def fit(self, references: Sequence[np.ndarray], progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelFn] = None) -> None:
        """Encode the prompts, then the references' adapted patch tokens into per-stage banks."""
        import torch

        if len(references) < 1:
            raise EngineUnavailable("VLAD needs at least 1 good reference image of the product")
        bs = self.config.batch_size
        n_batches = -(-len(references) // bs)
        bb = self.backbone
        total = 1 + n_batches + len(bb.stages)
        if self.config.adapters_path:
            self._load_trained_adapters(Path(self.config.adapters_path))
        report(progress, 0, total, "encoding the defect prompts")
        self._ensure_text()
        check_cancel(cancel)
        per_stage: list[list[Any]] = [[] for _ in bb.stages]
        for j in range(n_batches):
            report(progress, 1 + j, total, f"encoding references {j * bs + 1}-"
                   f"{min((j + 1) * bs, len(references))} of {len(references)}")
            with torch.no_grad():
                _, tokens = bb.encode(bb.preprocess(references[j * bs:(j + 1) * bs]))
            for k, t in enumerate(tokens):
                per_stage[k].append(t.reshape(-1, t.shape[-1]).half().cpu())
            check_cancel(cancel)
        banks = []
        for k in range(len(bb.stages)):
            report(progress, 1 + n_batches + k, total, f"building memory bank {k + 1} of {len(bb.stages)}")
            all_tokens = torch.cat(per_stage[k]).to(bb.device)
            per_stage[k] = []
            banks.append(build_bank(all_tokens, self.config.max_bank, self.config.bank_sampling,
                                    self.config.seed + k, cancel))
        self._set_banks(banks)
        self.n_references = len(references)
        report(progress, total, total, "done")

    def _load_trained_adapters(self, folder: Path) -> None:
        """Adapters (and learnt prompt embeddings) trained by `train --base vlad` for this model."""
        import torch

        from .adapters import check_match, read_adapters

        arrays, meta = read_adapters(folder)
        bb = self.backbone
        check_match(meta, self.config.model_id, bb.stages, folder)
        bb.load_adapter_arrays(arrays)
        prompts = build_prompts(self.config.object_name, self.config.defect_words)
        learnt = meta.get("prompts")
        # learnt embeddings belong to the prompts they started from; other words: encode afresh
        if "text_emb" in arrays and learnt == {"normal": prompts[0], "abnormal": prompts[1]}:
            self.text_emb = torch.from_numpy(arrays["text_emb"]).to(bb.device)
            self.prompts = prompts

    def score(self, images: Sequence[np.ndarray]) -> list[tuple[float, np.ndarray]]:
        """(raw image score, float32 (H, W) map at each image's own size) per image."""
        if self.banks is None or self.text_emb is None:
            raise InspectorError("VLAD model is not fitted: fit it on good reference images first")
        bs = self.config.batch_size
        out: list[tuple[float, np.ndarray]] = []
        for i in range(0, len(images), bs):
            batch = images[i:i + bs]
            scores, maps = self._score_batch(batch)
            for img, s, m in zip(batch, scores, maps):
                out.append((float(s), resize_map(m, img.shape[0], img.shape[1])))
        return out

    def _score_batch(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Raw scores (B,) and maps (B, S, S) at the model input size S."""
        import torch

        cfg, bb = self.config, self.backbone
        with torch.no_grad():
            image_tok, stage_toks = bb.encode(bb.preprocess(images))
            text = self.text_emb.to(bb.device)
            s_vl = torch.softmax(cfg.temperature * image_tok @ text.T, dim=-1)[:, 1]
            b, g = image_tok.shape[0], bb.grid
            vl = torch.zeros(b, g * g, device=bb.device)
            vv = torch.zeros(b, g * g, device=bb.device)
            for tok, bank in zip(stage_toks, self._banks_work):
                vl += torch.softmax(cfg.temperature * tok @ text.T, dim=-1)[..., 1]
                if cfg.w_vv > 0:
                    vv += nearest_distance(tok.reshape(-1, tok.shape[-1]), bank).reshape(b, -1)
            up = smooth_upsample(torch.stack([vl, vv], 1).reshape(b, 2, g, g), bb.input_size,
                                 cfg.sigma)
            s_vv = up[:, 1].amax(dim=(1, 2))
            maps = cfg.w_vl * up[:, 0] + cfg.w_vv * up[:, 1]
            scores = cfg.w_vl * s_vl + cfg.w_vv * s_vv
        return scores.cpu().numpy(), maps.cpu().numpy()

    def save(self, folder: Path) -> None:
        """Write vlad_arrays.npz (adapters, text embeddings, banks) then vlad_state.json."""
        if self.banks is None or self.text_emb is None:
            raise InspectorError("VLAD model is not fitted: nothing to save")
        bb = self.backbone
        arrays = {"text_emb": self.text_emb.float().cpu().numpy(), **bb.adapter_arrays()}
        arrays.update({f"bank{k}": b.numpy() for k, b in enumerate(self.banks)})
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        folder = Path(folder)
        atomic_write_bytes(folder / STATE_ARRAYS, buf.getvalue())
        settings = self.config.to_dict()
        settings["stages"] = list(bb.stages)
        state = {
            "format": STATE_FORMAT, "engine_id": self.engine_id, "version": self.version,
            "settings": settings, "input_size": bb.input_size, "grid": bb.grid,
            "embed_dim": bb.embed_dim, "n_references": self.n_references,
            "bank_sizes": [int(b.shape[0]) for b in self.banks],
            "prompts": {"normal": self.prompts[0], "abnormal": self.prompts[1]},
        }
        atomic_write_bytes(folder / STATE_JSON, json.dumps(state, indent=1).encode("utf-8"))

    @classmethod
    def load(cls, folder: Path, settings: Optional[dict[str, Any]] = None,
             device: str = "cpu") -> "VladModel":
        """Restore a saved model. Structural settings (model, image size, stages, bank) come from
        the saved state; others (weights, prompts, batch size, precision) may be overridden."""
        import torch

        folder = Path(folder)
        try:
            state = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InspectorError(f"no fitted VLAD state in {folder} ({STATE_JSON} missing)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InspectorError(f"{folder / STATE_JSON} is corrupt: {exc}") from None
        if state.get("engine_id") != cls.engine_id or state.get("format") != STATE_FORMAT:
            raise InspectorError(f"{folder / STATE_JSON} is not a VLAD state of format {STATE_FORMAT}")
        merged = dict(state["settings"])
        merged.update({k: v for k, v in (settings or {}).items() if k not in STRUCTURAL})
        model = cls(merged, device)
        try:
            with np.load(folder / STATE_ARRAYS, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise InspectorError(f"{folder / STATE_ARRAYS} is missing or corrupt: {exc}") from None
        bb = model.backbone
        if bb.stages != state["settings"]["stages"] or bb.input_size != state["input_size"]:
            raise InspectorError(f"saved VLAD state in {folder} does not match the CLIP model "
                                 f"'{model.config.model_id}' (refit the product)")
        bb.load_adapter_arrays(arrays)
        model.prompts = (list(state["prompts"]["normal"]), list(state["prompts"]["abnormal"]))
        model.text_emb = torch.from_numpy(arrays["text_emb"]).to(bb.device)
        model._ensure_text()  # recomputed only if the object name or defect words changed
        model._set_banks([torch.from_numpy(arrays[f"bank{k}"]) for k in range(len(bb.stages))])
        model.n_references = int(state.get("n_references", 0))
        return model
