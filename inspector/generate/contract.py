"""The one generator contract: every method turns a good image into a defective one.

A method is called as `method.generate(image, foreground, defect, seed, context)`:
  image       uint8 RGB (H, W, 3), a good reference
  foreground  bool (H, W), where a defect may go (the product, not the table)
  defect      DefectSpec: the engineer's defect word, sizes and counts
  seed        int; the same inputs and seed give the same bytes
  context     GenerationContext: other references (sources for Poisson/texture patches),
              a requested region, progress and cancel hooks
and returns a Sample: the defective image, a bool mask and a JSON recipe (method, version,
parameters, seed, model versions) from which the sample can be made again.

The mask is derived from the actual change (`derive_mask`): a pixel is in the mask when it
changed by more than CHANGE_TOLERANCE grey levels (any channel) inside the requested region;
every pixel outside the mask is restored to the good image's value, so a sample never claims
a defect where nothing changed and nothing changed outside its mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..core.errors import InspectorError
from ..core.progress import CancelFn, ProgressFn

CHANGE_TOLERANCE = 2  # grey levels: a pixel that changed by more than this is "changed"


@dataclass(frozen=True)
class DefectSpec:
    """What to make. word: the engineer's defect word ("scratch", "dent", ...), or "" for any;
    kind: a method-specific kind that overrides the word (e.g. rules' "poisson"); scale: size
    factor (1 = the method's typical size); count: defects per sample (1-8)."""

    word: str = ""
    kind: str = ""
    scale: float = 1.0
    count: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"word": self.word, "kind": self.kind, "scale": self.scale, "count": self.count}


@dataclass
class GenerationContext:
    """What a method may use besides the image. sources: other good references (uint8 RGB) with
    their foregrounds (bool or None), for patches and textures; region: bool (H, W) where the
    defect must go (a drawn mask), intersected with the foreground; params: method parameters."""

    sources: Sequence[tuple[np.ndarray, Optional[np.ndarray]]] = ()
    region: Optional[np.ndarray] = None
    params: dict[str, Any] = field(default_factory=dict)
    progress: Optional[ProgressFn] = None
    cancel: Optional[CancelFn] = None


@dataclass
class Sample:
    """One generated sample: image uint8 RGB (H, W, 3), mask bool (H, W), recipe (JSON-safe);
    soft_mask float32 (H, W) in [0, 1] where the method has one (attention maps), else None."""

    image: np.ndarray
    mask: np.ndarray
    recipe: dict[str, Any]
    soft_mask: Optional[np.ndarray] = None


@dataclass(frozen=True)
class Availability:
    """Whether a method can run here; when not, what is missing and the fix."""

    ok: bool
    missing: str = ""
    fix: str = ""

    def message(self) -> str:
        return "available" if self.ok else f"{self.missing} — {self.fix}"


GenerateFn = Callable[[np.ndarray, np.ndarray, DefectSpec, int, GenerationContext], Sample]


@dataclass(frozen=True)
class MethodSpec:
    """A registered generation method (see registry.METHODS)."""

    id: str
    title: str
    description: str
    version: str
    availability: Callable[..., Availability]  # (**params) -> Availability
    generate: GenerateFn
    defaults: dict[str, Any] = field(default_factory=dict)
    kinds: tuple[str, ...] = ()
    reports_steps: bool = False  # reports its own steps through context.progress (diffusion)


def change_map(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per-pixel change, the largest absolute channel difference, uint8 (H, W)."""
    import cv2

    d = cv2.absdiff(np.ascontiguousarray(before), np.ascontiguousarray(after))  # 20x numpy's int16 path
    return np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2])


def derive_mask(before: np.ndarray, after: np.ndarray, region: np.ndarray,
                tolerance: int = CHANGE_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """(image, mask): mask = pixels changed by more than `tolerance` inside `region`; the image
    is `after` inside the mask and `before` everywhere else (exactly)."""
    mask = (change_map(before, after) > tolerance) & region
    out = before.copy()
    out[mask] = after[mask]
    return out, mask


def check_inputs(image: np.ndarray, foreground: Optional[np.ndarray],
                 region: Optional[np.ndarray] = None, min_side: int = 16) -> np.ndarray:
    """Validate the contract's inputs; returns the bool region a defect may use (fg ∩ region)."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        raise InspectorError(f"expected a uint8 RGB image (H, W, 3), got {getattr(image, 'dtype', type(image))} "
                             f"{shape} — load images with inspector.core.image_io.load_image")
    h, w = image.shape[:2]
    if min(h, w) < min_side:
        raise InspectorError(f"image is {w}x{h} px, smaller than the generator's minimum of {min_side} px "
                             f"— use a larger reference image")
    fg = np.ones((h, w), bool) if foreground is None else np.asarray(foreground, bool)
    if fg.shape != (h, w):
        raise InspectorError(f"foreground mask is {fg.shape[1]}x{fg.shape[0]}, the image {w}x{h} "
                             f"— give a mask of the image's size")
    allowed = fg
    if region is not None:
        region = np.asarray(region, bool)
        if region.shape != (h, w):
            raise InspectorError(f"defect region is {region.shape[1]}x{region.shape[0]}, the image {w}x{h} "
                                 f"— draw the region on this image")
        allowed = fg & region
        if region.any() and not allowed.any():
            raise InspectorError("the drawn defect region lies outside the product's foreground "
                                 "— draw it on the part itself")
    if not allowed.any():
        raise InspectorError("the foreground mask is empty — the image shows no part to put a defect on")
    return allowed
