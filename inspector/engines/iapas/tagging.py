"""Suggest a product's tags (material, object, colour, surface) by zero-shot CLIP.

Each tag kind is a softmax over its candidates from resources/iapas_vocabulary.toml
(materials and object kinds are the vocabulary's tables, so a suggested tag always picks
prompts). The engineer sees the suggestions and edits them; nothing is stored here.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ...core.errors import InspectorError
from .prompts import Vocabulary, load_vocabulary

TEMPLATES = {
    "material": "a photo of something made of {}.",
    "object": "a photo of a {}.",
    "colour": "a photo of a {} object.",
    "surface": "a photo of an object with a {} surface.",
}
DEFAULT_CLIP = "clip-vit-b-16"


@dataclass
class TagSuggestion:
    kind: str  # material | object | colour | surface
    value: str
    probability: float
    alternatives: list[tuple[str, float]]  # the next best, most likely first


def candidates(vocabulary: Optional[Vocabulary] = None) -> dict[str, list[str]]:
    """Candidate values per tag kind."""
    voc = vocabulary or load_vocabulary()
    try:
        data = tomllib.loads(voc.path.read_text(encoding="utf-8")).get("tagging", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InspectorError(f"IAP-AS vocabulary {voc.path} is unreadable: {exc}") from None
    out = {"material": [e.key for e in voc.materials], "object": [e.key for e in voc.objects],
           "colour": list(data.get("colours", [])), "surface": list(data.get("surfaces", []))}
    for kind, values in out.items():
        if not values or not all(isinstance(v, str) and v for v in values):
            raise InspectorError(f"{voc.path}: no {kind} candidates for tag suggestions")
    return out


def suggest_tags(image: np.ndarray, source: Any = DEFAULT_CLIP, device: str = "cpu",
                 vocabulary: Optional[Vocabulary] = None) -> dict[str, TagSuggestion]:
    """Most likely material, object kind, colour and surface of the product in `image`.

    source: a CLIP manifest id, or (arch, checkpoint, open_clip config) as for
    `weights.loaders.load_open_clip`. Raises EngineUnavailable naming the weights to import.
    """
    import cv2
    import torch

    from ...weights.loaders import load_open_clip

    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InspectorError(f"tag suggestion needs a uint8 RGB image, got {image.dtype} {image.shape}")
    model, info, tokenizer = load_open_clip(source, device=device)
    s = info.image_size
    x = cv2.resize(image, (s, s), interpolation=cv2.INTER_AREA if max(image.shape[:2]) > s
                   else cv2.INTER_CUBIC)
    t = torch.from_numpy(x).permute(2, 0, 1)[None].float().div(255.0)
    t = (t - torch.tensor(info.mean).view(1, 3, 1, 1)) / torch.tensor(info.std).view(1, 3, 1, 1)
    out = {}
    with torch.no_grad():
        img = torch.nn.functional.normalize(model.encode_image(t.to(device)).float(), dim=-1)
        for kind, values in candidates(vocabulary).items():
            tokens = tokenizer([TEMPLATES[kind].format(v) for v in values]).to(device)
            txt = torch.nn.functional.normalize(model.encode_text(tokens).float(), dim=-1)
            prob = torch.softmax(100.0 * img @ txt.T, dim=-1)[0].cpu().numpy()
            order = np.argsort(-prob, kind="stable")
            out[kind] = TagSuggestion(kind, values[order[0]], float(prob[order[0]]),
                                      [(values[i], float(prob[i])) for i in order[1:4]])
    return out
