"""Retrieval filter (seed 004): keep a generated sample only when it still looks like the
product and shows a visible change inside its mask.

Each image gets a global descriptor; a sample's `similarity` to the product is
1 / (1 + d / d_ref), d = distance to its nearest reference descriptor and d_ref = the
references' own typical nearest-neighbour distance (leave one out), so a fresh re-shot of the
product scores about 0.5 whatever the descriptor, and a structurally different image tends to 0.
`change` is the mean absolute change (grey levels, largest channel) inside the mask.

Descriptors:
  clip        CLIP image embedding (open_clip), when CLIP weights are in the models folder;
  standalone  the weights-free engine's multi-scale patch features (colour, gradients,
              Hessian, local contrast, structure tensor at 6 scales) on a 128 px working copy,
              averaged over a 2x2 grid of the image and z-scored by the references' spread;
              no weights needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

DEFAULTS = {"min_similarity": 0.2, "min_change": 8.0, "min_area_px": 16}
STANDALONE_ID = "standalone-v1"
CLIP_MODELS = ("clip-vit-b-16", "clip-vit-l-14")


def standalone_descriptor(image: np.ndarray) -> np.ndarray:
    """float32 (4 * C,): the standalone features averaged over each quarter of the image."""
    from ..engines.standalone_parts.features import tile_features

    f = tile_features(image, (128, 128), 8)  # (16, 16, C)
    q = f.reshape(2, 8, 2, 8, -1).mean(axis=(1, 3))  # (2, 2, C): coarse layout of the part
    return q.reshape(-1).astype(np.float32)


def _clip_embedder(source: Any) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    from ..weights.loaders import load_open_clip

    model, info, _ = load_open_clip(source)
    mean = torch.tensor(info.mean).view(1, 3, 1, 1)
    std = torch.tensor(info.std).view(1, 3, 1, 1)

    def embed(image: np.ndarray) -> np.ndarray:
        import cv2

        x = cv2.resize(image, (info.image_size, info.image_size), interpolation=cv2.INTER_AREA)
        t = (torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255 - mean) / std
        with torch.no_grad():
            e = model.encode_image(t)[0]
        return (e / e.norm().clamp_min(1e-8)).numpy().astype(np.float32)

    return embed


def pick_descriptor(choice: str = "auto") -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """(descriptor id, embed function): CLIP when asked or, for "auto", when its weights are here."""
    if choice not in ("auto", "clip", "standalone"):
        from ..core.errors import InspectorError

        raise InspectorError(f"unknown filter descriptor '{choice}' — use auto, clip or standalone")
    if choice in ("auto", "clip"):
        from ..core.errors import EngineUnavailable

        from ..weights.loaders import locate

        for model_id in CLIP_MODELS:
            try:
                locate(model_id)  # cheap: no torch import unless the weights are here
                return model_id, _clip_embedder(model_id)
            except (EngineUnavailable, ImportError):
                continue
        if choice == "clip":
            raise EngineUnavailable(f"the retrieval filter needs CLIP weights ({', '.join(CLIP_MODELS)}) "
                                    f"— run `inspector models import PATH`, or use the standalone descriptor")
    return STANDALONE_ID, standalone_descriptor


@dataclass
class RetrievalFilter:
    descriptor: str
    embed: Callable[[np.ndarray], np.ndarray]
    refs: np.ndarray  # (N, D) reference descriptors (z-scored for standalone)
    centre: np.ndarray
    spread: np.ndarray
    d_ref: float
    thresholds: dict[str, float]

    @classmethod
    def fit(cls, references: Sequence[np.ndarray], params: Optional[dict[str, Any]] = None,
            embed: Optional[tuple[str, Callable[[np.ndarray], np.ndarray]]] = None) -> "RetrievalFilter":
        params = params or {}
        name, fn = embed or pick_descriptor(str(params.get("filter_descriptor", "auto")))
        raw = np.stack([fn(r) for r in references])
        centre = raw.mean(0)
        # a floor on the spread: with few references some channels hardly vary
        spread = np.maximum(raw.std(0), 0.05 * np.abs(raw).mean(0) + 1e-3) if name == STANDALONE_ID \
            else np.ones(raw.shape[1], np.float32)
        z = (raw - centre) / spread
        if len(z) >= 2:
            d = np.linalg.norm(z[:, None] - z[None], axis=2)
            np.fill_diagonal(d, np.inf)
            d_ref = float(np.median(d.min(1)))
        else:
            d_ref = float(np.sqrt(z.shape[1]) * (1.0 if name == STANDALONE_ID else 0.1))
        thresholds = {k: float(params.get(k, v)) for k, v in DEFAULTS.items()}
        return cls(name, fn, z, centre, spread, max(d_ref, 1e-6), thresholds)

    def similarity(self, image: np.ndarray) -> float:
        z = (self.embed(image) - self.centre) / self.spread
        d = float(np.linalg.norm(self.refs - z, axis=1).min())
        return 1.0 / (1.0 + d / self.d_ref)

    def judge(self, image: np.ndarray, mask: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
        """The stored decision: scores, thresholds, keep and the reason when dropped."""
        sim = self.similarity(image)
        m = np.asarray(mask, bool)
        area = int(m.sum())
        diff = np.abs(image.astype(np.int16) - reference.astype(np.int16)).max(axis=2)
        change = float(diff[m].mean()) if area else 0.0
        return decide({"descriptor": self.descriptor, "similarity": round(sim, 4),
                       "change": round(change, 2), "area_px": area}, self.thresholds)


def decide(scores: dict[str, Any], thresholds: dict[str, float]) -> dict[str, Any]:
    """Apply thresholds to stored scores (used again when the engineer moves them)."""
    t = {**DEFAULTS, **thresholds}
    reason = ""
    if scores["similarity"] < t["min_similarity"]:
        reason = f"too far from the product (similarity {scores['similarity']:.2f} < {t['min_similarity']:.2f})"
    elif scores["area_px"] < t["min_area_px"] or scores["change"] < t["min_change"]:
        reason = f"no visible change inside the mask ({scores['change']:.1f} grey levels, {scores['area_px']} px)"
    return {**scores, "thresholds": {k: float(v) for k, v in t.items()}, "keep": not reason, "reason": reason}
