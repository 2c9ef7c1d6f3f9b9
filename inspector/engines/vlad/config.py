"""VLAD settings: one typed record read from the product's engine settings dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

from ...core.errors import InspectorError

DEFAULT_MODEL_ID = "clip-vit-l-14"
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
BANK_SAMPLING = ("coreset", "random")


@dataclass
class VladSettings:
    """Settings of the VLAD engine (keys of the settings dict; unknown keys are ignored).

    model_id: weights id from models/manifest.toml ("clip-vit-l-14", "clip-vit-b-16", ...).
    checkpoint, model_config, arch: an explicit open_clip state-dict file with its open_clip
        config dict (or open_clip's built-in config of `arch`, e.g. "ViT-B-16"); for tests and
        custom models. When set, the manifest is not consulted.
    image_size: side of the square model input in pixels (positional embedding interpolated
        when it differs from the model's native size); rounded down to a multiple of the patch.
    stages: 1-based transformer blocks whose patch tokens are used; None = `n_stages` evenly
        spaced blocks ending at the last one ([6, 12, 18, 24] for 24 blocks).
    object_name, defect_words: fill the text prompts (resources/defect_vocabulary.toml).
    w_vl, w_vv: weights of the vision-language and vision-vision parts of map and score.
    temperature: logit scale of the patch/text softmax (CLIP's 100).
    sigma: Gaussian smoothing of the maps, in model-input pixels.
    max_bank: most patches kept per stage in the memory bank; bank_sampling: how to thin it.
    precision: CUDA autocast dtype ("auto" = bf16 where supported, else fp16); CPU runs fp32.
    adapters_path: folder of trained adapters (vlad/adapters.py), set by activating a detector
        trained with `--base vlad`; None = the untrained adapters (initialised with CLIP's proj).
    """

    model_id: str = DEFAULT_MODEL_ID
    checkpoint: Optional[str] = None
    arch: Optional[str] = None
    model_config: Optional[dict[str, Any]] = None
    image_size: int = 336
    stages: Optional[list[int]] = None
    n_stages: int = 4
    object_name: str = "object"
    defect_words: list[str] = field(default_factory=list)
    w_vl: float = 1.0
    w_vv: float = 1.0
    temperature: float = 100.0
    sigma: float = 4.0
    batch_size: int = 8
    max_bank: int = 16384
    bank_sampling: str = "coreset"
    seed: int = 0
    precision: str = "auto"
    adapters_path: Optional[str] = None

    @classmethod
    def from_dict(cls, data: Optional[dict[str, Any]]) -> "VladSettings":
        known = {f.name for f in fields(cls)}
        s = cls(**{k: v for k, v in (data or {}).items() if k in known and v is not None})
        s.validate()
        return s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        def bad(what: str) -> InspectorError:
            return InspectorError(f"VLAD setting {what}")

        if isinstance(self.defect_words, str):
            self.defect_words = [w for w in self.defect_words.split(",")]
        if not isinstance(self.image_size, int) or not 32 <= self.image_size <= 2048:
            raise bad(f"image_size must be an integer from 32 to 2048, not {self.image_size!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad(f"batch_size must be a positive integer, not {self.batch_size!r}")
        if not isinstance(self.max_bank, int) or self.max_bank < 1:
            raise bad(f"max_bank must be a positive integer, not {self.max_bank!r}")
        if not isinstance(self.n_stages, int) or self.n_stages < 1:
            raise bad(f"n_stages must be a positive integer, not {self.n_stages!r}")
        if self.stages is not None and (not self.stages or not all(
                isinstance(i, int) and i >= 1 for i in self.stages)):
            raise bad(f"stages must be a list of block numbers from 1, not {self.stages!r}")
        if self.precision not in PRECISIONS:
            raise bad(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.bank_sampling not in BANK_SAMPLING:
            raise bad(f"bank_sampling must be one of {', '.join(BANK_SAMPLING)}, "
                      f"not {self.bank_sampling!r}")
        if self.w_vl < 0 or self.w_vv < 0 or self.w_vl + self.w_vv <= 0:
            raise bad(f"weights w_vl={self.w_vl}, w_vv={self.w_vv} must be >= 0, not both 0")
        if self.sigma < 0 or self.temperature <= 0:
            raise bad(f"sigma must be >= 0 and temperature > 0 (got {self.sigma}, {self.temperature})")


def stage_blocks(stages: Optional[list[int]], n_stages: int, n_layers: int) -> list[int]:
    """1-based block numbers to tap: explicit ones checked, else evenly spaced to the last."""
    if stages is None:
        n = min(n_stages, n_layers)
        stages = sorted({round(n_layers * (k + 1) / n) for k in range(n)})
    if any(i > n_layers for i in stages):
        raise InspectorError(f"VLAD setting stages {stages}: the model has only {n_layers} blocks")
    return list(stages)
