"""What VLAD needs, and whether it can run here (cheap: no torch import, no weights loaded)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Optional

from ...core.errors import InspectorError
from ..base import Availability, Requirements
from .config import VladSettings
from .prompts import load_vocabulary


def requirements(settings: Optional[dict[str, Any]] = None) -> Requirements:
    """>= 1 good reference, the CLIP weights of `model_id`, open_clip_torch; GPU optional."""
    cfg = VladSettings.from_dict(settings)
    return Requirements(min_references=1, weights=[] if cfg.checkpoint else [cfg.model_id],
                        gpu="optional", packages=["open_clip_torch"])


def availability(settings: Optional[dict[str, Any]] = None) -> Availability:
    """ok, or why not with the fix (install command, weights import command, setting to change)."""
    if importlib.util.find_spec("open_clip") is None:
        return Availability(False, "VLAD needs open_clip: pip install open_clip_torch")
    try:
        cfg = VladSettings.from_dict(settings)
        load_vocabulary()
        if cfg.adapters_path:
            from .adapters import ADAPTER_FILES

            if not all((Path(cfg.adapters_path) / f).is_file() for f in ADAPTER_FILES):
                return Availability(False, f"the trained VLAD adapters are missing in {cfg.adapters_path} — "
                                           "train again (`inspector train PRODUCT --base vlad`) or activate "
                                           "another version with `inspector detectors activate PRODUCT VERSION`")
        if cfg.checkpoint:
            if not Path(cfg.checkpoint).is_file():
                return Availability(False, f"CLIP weights file not found: {cfg.checkpoint} "
                                           "(fix the VLAD 'checkpoint' setting)")
            return Availability(True)
        from ...weights.loaders import locate

        locate(cfg.model_id)
    except ImportError as exc:
        return Availability(False, f"VLAD cannot look up its weights: {exc}")
    except InspectorError as exc:  # EngineUnavailable from locate names the model and the fix
        return Availability(False, str(exc))
    return Availability(True)
