"""What IAP-AS needs, and whether it can run here (cheap: no torch import, no weights loaded)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Optional

from ...core.errors import InspectorError
from ..base import Availability, Requirements
from .config import IapasSettings
from .prompts import load_vocabulary


def requirements(settings: Optional[dict[str, Any]] = None) -> Requirements:
    """No references needed; Grounding DINO + SAM weights; transformers and segment-anything."""
    cfg = IapasSettings.from_dict(settings)
    weights = ([] if cfg.detector_folder else [cfg.detector_id]) + ([] if cfg.sam_checkpoint else [cfg.sam_id])
    return Requirements(min_references=0, weights=weights, gpu="optional",
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
    if cfg.detector_folder and not (Path(cfg.detector_folder) / "config.json").is_file():
        return Availability(False, f"Grounding DINO folder not found: {cfg.detector_folder} (no "
                                   "config.json; fix the IAP-AS 'detector_folder' setting)")
    if cfg.sam_checkpoint and not Path(cfg.sam_checkpoint).is_file():
        return Availability(False, f"SAM weights file not found: {cfg.sam_checkpoint} "
                                   "(fix the IAP-AS 'sam_checkpoint' setting)")
    missing, details = [], []
    ids = ([] if cfg.detector_folder else [cfg.detector_id]) + ([] if cfg.sam_checkpoint else [cfg.sam_id])
    for model_id in ids:
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
