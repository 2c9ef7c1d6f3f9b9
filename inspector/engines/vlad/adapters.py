"""Trained VLAD adapters on disk: vlad_adapters.safetensors + vlad_adapters.json (one folder).

Written by `inspector train PRODUCT --base vlad` into the detector version's folder; the engine
loads them when its setting `adapters_path` points at that folder (set by `detectors activate`).
The weights are plain arrays (adapter{k}_weight (C, width), adapter{k}_bias (C,), and text_emb
(2, C) when the prompt embeddings were learnt too); the JSON says which CLIP model and stages
they belong to, so a mismatch is refused with the fix instead of scoring with wrong weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import InspectorError
from ...core.image_io import atomic_write_bytes

ADAPTER_WEIGHTS, ADAPTER_META = "vlad_adapters.safetensors", "vlad_adapters.json"
ADAPTER_FILES = (ADAPTER_WEIGHTS, ADAPTER_META)
ADAPTER_FORMAT = 1


def write_adapters(folder: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Weights first, then the JSON (its presence says the folder is complete)."""
    from safetensors.numpy import save

    folder = Path(folder)
    data = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    atomic_write_bytes(folder / ADAPTER_WEIGHTS, save(data))
    atomic_write_bytes(folder / ADAPTER_META, json.dumps({"format": ADAPTER_FORMAT, **meta}, indent=1).encode())


def read_adapters(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays, meta) of a trained-adapters folder; InspectorError with the fix when unreadable."""
    from safetensors.numpy import load

    folder = Path(folder)
    hint = "train it again with `inspector train PRODUCT --base vlad` or activate another version"
    try:
        meta = json.loads((folder / ADAPTER_META).read_text(encoding="utf-8"))
        arrays = load((folder / ADAPTER_WEIGHTS).read_bytes())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InspectorError(f"the trained VLAD adapters in {folder} are unreadable ({exc}) — {hint}") from None
    if meta.get("format") != ADAPTER_FORMAT or not isinstance(meta.get("stages"), list):
        raise InspectorError(f"{folder / ADAPTER_META} is not a VLAD adapters file of format {ADAPTER_FORMAT} "
                             f"— {hint}")
    return arrays, meta


def check_match(meta: dict[str, Any], model_id: str, stages: list[int], folder: Path) -> None:
    """Adapters are tied to one CLIP model and its tapped blocks."""
    if meta.get("model_id") != model_id or list(meta["stages"]) != list(stages):
        raise InspectorError(f"the trained VLAD adapters in {folder} were trained for CLIP '{meta.get('model_id')}' "
                             f"blocks {meta['stages']}, this product's VLAD runs '{model_id}' blocks {stages} — "
                             "set the product's model back, or train the adapters again")
