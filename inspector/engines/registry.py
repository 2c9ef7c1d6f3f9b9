"""The explicit registry of engines by id (a plain dict of small specs, as segment-anything does)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..core.errors import EngineUnavailable, InspectorError
from .base import Availability, Requirements, ScoreModel


@dataclass(frozen=True)
class EngineSpec:
    id: str
    title: str
    summary: str
    model_class: str  # "module:Class", imported only when used
    requirements: Requirements
    availability: Callable[[dict[str, Any]], Availability]
    region_label: str = "anomaly"
    detector_class: str = "inspector.engines.detector:Detector"  # "module:Class", a Detector subclass
    # "module:function" (calibration or None, settings, target_frr) -> Calibration: engines whose
    # maps need their own scale, or that run with no good images at all (min_references 0)
    calibration_hook: str = ""

    def load_class(self) -> type[ScoreModel]:
        return self._import(self.model_class)

    def _import(self, target: str) -> Any:
        module, _, name = target.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except ImportError as exc:
            raise EngineUnavailable(f"engine '{self.id}' cannot be loaded: {exc}; reinstall "
                                    "Inspector with its dependencies (pip install -e .)") from None

    def finish_calibration(self, calibration: Any, settings: dict[str, Any], target_frr: float) -> Any:
        """The calibration the engine runs with; None (no good images) needs a calibration_hook."""
        if self.calibration_hook:
            return self._import(self.calibration_hook)(calibration, settings, target_frr)
        if calibration is None:
            raise InspectorError(f"engine '{self.id}' needs good reference images to set its threshold")
        return calibration

    def build_detector(self, model: ScoreModel, calibration: Any) -> Any:
        """The engine's Detector (the common one unless the engine adds extras to each result)."""
        return self._import(self.detector_class)(model, calibration, self.region_label)


def _always(_settings: dict[str, Any]) -> Availability:
    return Availability(True)


def _vlad_availability(settings: dict[str, Any]) -> Availability:
    try:
        from .vlad import availability
    except ImportError as exc:  # pragma: no cover - depends on the installed packages
        return Availability(False, f"VLAD needs open_clip_torch: pip install open_clip_torch ({exc})")
    return availability(settings)


def _iapas_availability(settings: dict[str, Any]) -> Availability:
    try:
        from .iapas import availability
    except ImportError as exc:  # pragma: no cover - depends on the installed packages
        return Availability(False, f"IAP-AS cannot be loaded: {exc}")
    return availability(settings)


ENGINES: dict[str, EngineSpec] = {
    "standalone": EngineSpec(
        id="standalone", title="Standalone (no weights)",
        summary="Learns from the product's good images alone; runs on any CPU.",
        model_class="inspector.engines.standalone:StandaloneModel",
        requirements=Requirements(min_references=1, gpu="no"), availability=_always),
    "vlad": EngineSpec(
        id="vlad", title="VLAD (CLIP few-shot)",
        summary="CLIP patch tokens against defect prompts and the references' memory bank.",
        model_class="inspector.engines.vlad:VladModel",
        requirements=Requirements(min_references=1, weights=["clip-vit-l-14"], gpu="optional",
                                  packages=["open_clip_torch"]),
        availability=_vlad_availability),
    "iapas": EngineSpec(
        id="iapas", title="IAP-AS (zero-shot, no references)",
        summary="Tags -> defect prompts -> Grounding DINO boxes -> size filter -> SAM masks.",
        model_class="inspector.engines.iapas:IapasModel",
        requirements=Requirements(min_references=0, weights=["grounding-dino-tiny", "sam-vit-b"],
                                  gpu="optional", packages=["transformers", "segment-anything"]),
        availability=_iapas_availability, region_label="defect",
        detector_class="inspector.engines.iapas.verdict:IapasDetector",
        calibration_hook="inspector.engines.iapas.verdict:finish_calibration"),
    "local": EngineSpec(
        id="local", title="Local detector (trained)",
        summary="The standalone engine refined by a head trained on this product's synthetic defects.",
        model_class="inspector.engines.local:LocalModel", requirements=Requirements(min_references=1, gpu="optional"),
        availability=lambda s: importlib.import_module("inspector.engines.local").availability(s)),
}


def get_engine(engine_id: str) -> EngineSpec:
    try:
        return ENGINES[engine_id]
    except KeyError:
        raise InspectorError(f"unknown engine '{engine_id}' (known: {', '.join(ENGINES)})") from None


def make_model(engine_id: str, settings: Optional[dict[str, Any]] = None, device: str = "cpu") -> ScoreModel:
    """A fresh, unfitted model; raises EngineUnavailable with the fix when it cannot run here."""
    spec = get_engine(engine_id)
    status = spec.availability(dict(settings or {}))
    if not status.ok:
        raise EngineUnavailable(f"engine '{engine_id}' is not available: {status.reason}")
    return spec.load_class()(settings, device)


def resolve_device(requested: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'; 'cuda' without a GPU is an error."""
    if requested not in ("auto", "cpu", "cuda"):
        raise InspectorError(f"device must be cpu, cuda or auto, not '{requested}'")
    if requested == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if requested == "cuda":
        raise InspectorError("--device cuda asked for, but no CUDA GPU is usable on this machine")
    return "cpu"
