"""Rule-based defect families: one set for training, others kept apart as proxies and for validation.

Validation always uses a family no training stage has seen, so its figures say how the
detector generalises to a defect kind it was not taught, not how well it memorised one.
"""

from __future__ import annotations

FAMILIES: dict[str, tuple[str, ...]] = {
    "rules": ("scratch", "stain", "hole", "perlin_texture"),  # stage 1: many cheap samples
    # Stand-in for the high-quality stage when the product has no accepted CUT / inpainting samples.
    "rules_b": ("colour_spot", "cutpaste"),
    "validation": ("crack", "dent", "missing"),  # never trained on
}
STAGES = ("rules", "diffusion")  # what `--stages` accepts
# "diffusion" is served by this family when no accepted high-quality synthetic sample is available.
DIFFUSION_PROXY = "rules_b"


def validation_kinds(stages: tuple[str, ...], proxy_trained: bool = True) -> tuple[str, ...]:
    """The defect kinds validation uses: the validation family and every family no stage trains on
    (`proxy_trained` False: the `diffusion` stage trains on stored synthetic sets, not its proxy)."""
    trained = {"rules" if s == "rules" else DIFFUSION_PROXY for s in stages if s == "rules" or proxy_trained}
    return tuple(k for name, kinds in FAMILIES.items() if name not in trained for k in kinds)
