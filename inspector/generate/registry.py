"""The one list of generation methods, each with its availability (and the fix when absent).

Each method's availability looks for its weights in the models folder.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.errors import InspectorError
from .contract import Availability, DefectSpec, GenerationContext, MethodSpec, Sample


def _always(**_params: object) -> Availability:
    return Availability(True)


def _rules_generate(image: np.ndarray, foreground: Optional[np.ndarray], defect: DefectSpec, seed: int,
                    context: GenerationContext) -> Sample:
    from .rules import generate_rules

    return generate_rules(image, foreground, defect, seed, context)


def _rules_spec() -> MethodSpec:
    from .rules import DEFECT_KINDS, RULES_VERSION

    return MethodSpec(
        id="rules", title="Rule-based (no weights)",
        description="Scratches, cracks, stains, holes, colour spots, CutPaste, DRAEM Perlin textures, "
                    "NSA Poisson patches, dents and missing material, with exact masks; about 80 "
                    "samples/s at 512 px on a 2-core CPU.",
        version=RULES_VERSION, availability=_always, generate=_rules_generate,
        defaults={"scale": 1.0, "count": 1, "poisson_mode": "auto"}, kinds=DEFECT_KINDS)


def _cut_generate(image: np.ndarray, foreground: Optional[np.ndarray], defect: DefectSpec, seed: int,
                  context: GenerationContext) -> Sample:
    from .cut import generate_cut

    return generate_cut(image, foreground, defect, seed, context)


def _cut_availability(**params: object) -> Availability:
    from .cut import availability

    return availability(**params)


def _cut_spec() -> MethodSpec:
    return MethodSpec(
        id="cut", title="CUT (Stable Diffusion 1.5)",
        description="Training-free: the good image noised to t_start = T(1-γ) and denoised with the prompt "
                    "'a photo of a [object] that is [defect]', the defect token's attention raised inside "
                    "the foreground; the attention map is the mask. Seconds per image on a GPU, minutes on a CPU.",
        version="cut-1", availability=_cut_availability, generate=_cut_generate,
        defaults={"steps": 200, "gamma": 0.25, "lam": 10.0, "guidance": 7.5, "size": 512, "model": "sd15"},
        reports_steps=True)


def _inpaint_generate(image: np.ndarray, foreground: Optional[np.ndarray], defect: DefectSpec, seed: int,
                      context: GenerationContext) -> Sample:
    from .inpaint import generate_inpaint

    return generate_inpaint(image, foreground, defect, seed, context)


def _inpaint_availability(**params: object) -> Availability:
    from .inpaint import availability

    return availability(**params)


def _inpaint_spec() -> MethodSpec:
    return MethodSpec(
        id="inpaint", title="Inpainting (SD 1.5)",
        description="Anomagic style: the drawn (or sampled) region of the good image repainted with "
                    "'a photo of a [object] with a [defect]', optional LoRA; kept only when the change sits "
                    "inside the mask (else the next seed, 3 tries). Seconds per image on a GPU, minutes on a CPU.",
        version="inpaint-1", availability=_inpaint_availability, generate=_inpaint_generate,
        defaults={"steps": 50, "guidance": 7.5, "size": 512, "retries": 3, "model": "sd15-inpainting", "lora": ""},
        reports_steps=True)


def methods() -> list[MethodSpec]:
    """All registered methods, in the order the GUI and CLI list them."""
    return [_rules_spec(), _cut_spec(), _inpaint_spec()]


def get_method(method_id: str, params: Optional[dict] = None) -> MethodSpec:
    """The method with this id; raises InspectorError naming the known ones, or the missing
    weights and their fix when the method cannot run here (with these parameters)."""
    for m in methods():
        if m.id == method_id:
            status = m.availability(**(params or {}))
            if not status.ok:
                raise InspectorError(f"method '{method_id}' is unavailable: {status.message()}")
            return m
    known = ", ".join(m.id for m in methods())
    raise InspectorError(f"unknown generation method '{method_id}' — use one of: {known}")


def generate(method_id: str, image: np.ndarray, foreground: Optional[np.ndarray], defect: DefectSpec,
             seed: int, context: Optional[GenerationContext] = None) -> Sample:
    """Run one method through the contract (see contract.py)."""
    context = context or GenerationContext()
    return get_method(method_id, context.params).generate(image, foreground, defect, seed, context)
