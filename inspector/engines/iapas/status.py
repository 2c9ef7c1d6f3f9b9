"""What IAP-AS needs, and whether it can run here (cheap: no torch import, no weights loaded)."""

from __future__ import annotations

import importlib.util
from typing import Any, Optional

from ...core.errors import InspectorError
from ..base import Availability, Requirements
from .config import IapasSettings
from .prompts import load_vocabulary


def requirements(settings: Optional[dict[str, Any]] = None) -> Requirements:
    """No references needed; Grounding DINO + SAM weights; transformers and segment-anything."""
    cfg = IapasSettings.from_dict(settings)
    return Requirements(min_references=0, weights=[cfg.detector_id, cfg.sam_id], gpu="optional",
                        packages=["transformers", "segment-anything"])


def availability(settings: Optional[dict[str, Any]] = None) -> Availability:
    """ok, or exactly which weights to import (or package to install, or setting to fix)."""
    for module, package in (("transformers", "transformers"), ("segment_anything", "segment-anything")):
        if importlib.util.find_spec(module) is None:
            return Availability(False, f"IAP-AS needs {package}: pip install {package}")
    try:
        cfg = IapasSettings.from_dict(settings)
        load_vocabulary()
        from ...weights.loaders import locate
    except ImportError as exc:  # pragma: no cover - depends on the installed packages
        return Availability(False, f"IAP-AS cannot look up its weights: {exc}")
    except InspectorError as exc:
        return Availability(False, str(exc))
    missing, details = [], []
    for model_id in (cfg.detector_id, cfg.sam_id):
        try:
            locate(model_id)
        except InspectorError as exc:
            missing.append(model_id)
            details.append(str(exc))
    if missing:
        return Availability(False, "missing Grounding DINO / SAM weights — import "
                            f"{' and '.join(missing)} with `inspector models import PATH` "
                            f"(online: `inspector models download {missing[0]}`). "
                            + " ".join(dict.fromkeys(details)))
    return Availability(True)
