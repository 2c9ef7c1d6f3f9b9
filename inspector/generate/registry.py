"""The one list of generation methods, each with its availability (and the fix when absent).

Diffusion methods (CUT, prompt inpainting) are not in this version: they join this list with
an availability that checks their weights in the models folder.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.errors import InspectorError
from .contract import Availability, DefectSpec, GenerationContext, MethodSpec, Sample


def _always() -> Availability:
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


def methods() -> list[MethodSpec]:
    """All registered methods, in the order the GUI and CLI list them."""
    return [_rules_spec()]


def get_method(method_id: str) -> MethodSpec:
    """The method with this id; raises InspectorError naming the known ones, or the missing
    weights and their fix when the method cannot run here."""
    for m in methods():
        if m.id == method_id:
            status = m.availability()
            if not status.ok:
                raise InspectorError(f"method '{method_id}' is unavailable: {status.message()}")
            return m
    known = ", ".join(m.id for m in methods())
    raise InspectorError(f"unknown generation method '{method_id}' — use one of: {known}")


def generate(method_id: str, image: np.ndarray, foreground: Optional[np.ndarray], defect: DefectSpec,
             seed: int, context: Optional[GenerationContext] = None) -> Sample:
    """Run one method through the contract (see contract.py)."""
    return get_method(method_id).generate(image, foreground, defect, seed, context or GenerationContext())
