"""IAP-AS settings: one typed record read from the product's engine settings dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

from ...core.errors import InspectorError

DEFAULT_DETECTOR = "grounding-dino-tiny"
DEFAULT_SAM = "sam-vit-b"
PRECISIONS = ("fp32", "bf16", "fp16")
TAG_KEYS = ("material", "object", "colour", "surface")


@dataclass
class IapasSettings:
    """Settings of the IAP-AS engine (keys of the settings dict; unknown keys are ignored).

    detector_id, sam_id: weights ids from models/manifest.toml (Grounding DINO, SAM).
    detector_folder, sam_checkpoint, sam_variant: explicit weights instead (a transformers
        Grounding DINO folder; a SAM .pth with "vit_b"/"vit_l"/"vit_h" or a dict of sizes);
        for tests, benchmarks and custom models. When set, the manifest is not consulted.
    object_name: the object tag ("bottle"); it is the object prompt of the size filter.
    tags: the product's tags {"material", "object", "colour", "surface"} (object_name wins).
    defect_words: the engineer's own defect words; they lead the prompt list.
    prompts: an explicit, edited prompt list; when set it is used as is (no vocabulary, no LLM).
    llm: "auto" = a causal LM folder `<models folder>/prompt-llm` when present; "" = none;
        else a folder path or a folder name in the models folder. Used only when fitting.
    describe: "off" (default) or "on": describe-then-segment with a local multimodal model
        (`describe_model`, default `<models folder>/describe-lmm`) that names each image's defects.
    box_threshold, text_threshold: Grounding DINO box and token confidence cut-offs.
    max_box_ratio: defect boxes larger than this share of the object box are the object.
    nms_iou, top_k: non-maximum suppression overlap and the most boxes kept per image.
    work_size: longest image side the models see (larger images are shrunk, the map is
        resized back); 0 = the input size.
    max_text_tokens: token budget of one Grounding DINO caption (0 = the model's max_text_len).
    text_batch: captions scored in one detector forward pass; sam_batch: boxes per SAM decode.
    size_from_references: with good references, the object size comes from them.
    default_threshold: image threshold used with no good images (None = box_threshold).
    precision: CUDA autocast dtype for both models; the CPU always runs fp32.
    """

    detector_id: str = DEFAULT_DETECTOR
    sam_id: str = DEFAULT_SAM
    detector_folder: Optional[str] = None
    sam_checkpoint: Optional[str] = None
    sam_variant: Any = "vit_b"
    object_name: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    defect_words: list[str] = field(default_factory=list)
    prompts: Optional[list[str]] = None
    llm: str = "auto"
    llm_max_new_tokens: int = 48
    describe: str = "off"
    describe_model: str = ""
    box_threshold: float = 0.3
    text_threshold: float = 0.25
    max_box_ratio: float = 0.8
    nms_iou: float = 0.5
    top_k: int = 10
    work_size: int = 1024
    max_text_tokens: int = 0
    text_batch: int = 4
    sam_batch: int = 16
    size_from_references: bool = True
    default_threshold: Optional[float] = None
    precision: str = "fp32"

    @classmethod
    def from_dict(cls, data: Optional[dict[str, Any]]) -> "IapasSettings":
        known = {f.name for f in fields(cls)}
        s = cls(**{k: v for k, v in (data or {}).items() if k in known and v is not None})
        s.validate()
        return s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def object_tag(self) -> str:
        """The object prompt: object_name, else the object tag, else "object"."""
        name = self.object_name or str(self.tags.get("object", "") or "")
        return " ".join(name.replace("_", " ").split()) or "object"

    def validate(self) -> None:
        def bad(what: str) -> InspectorError:
            return InspectorError(f"IAP-AS setting {what}")

        if isinstance(self.defect_words, str):
            self.defect_words = [w for w in self.defect_words.split(",")]
        if isinstance(self.prompts, str):
            self.prompts = [p for p in self.prompts.split(",")]
        if self.prompts is not None:
            self.prompts = [" ".join(p.split()) for p in self.prompts if p and p.strip()]
            if not self.prompts:
                raise bad("prompts is empty: give at least one defect phrase or leave it unset")
        if not isinstance(self.tags, dict):
            raise bad(f"tags must be a table of {', '.join(TAG_KEYS)}, not {self.tags!r}")
        for name in ("box_threshold", "text_threshold"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 < v < 1.0:
                raise bad(f"{name} must be a number between 0 and 1, not {v!r}")
        if not isinstance(self.max_box_ratio, (int, float)) or not 0.0 < self.max_box_ratio <= 1.0:
            raise bad(f"max_box_ratio must be in (0, 1], not {self.max_box_ratio!r}")
        if not isinstance(self.nms_iou, (int, float)) or not 0.0 < self.nms_iou <= 1.0:
            raise bad(f"nms_iou must be in (0, 1], not {self.nms_iou!r}")
        for name in ("top_k", "text_batch", "sam_batch", "llm_max_new_tokens"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise bad(f"{name} must be a positive integer, not {v!r}")
        for name in ("work_size", "max_text_tokens"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0 or (0 < v < 32):
                raise bad(f"{name} must be 0 or an integer of at least 32, not {v!r}")
        if self.describe not in ("off", "on"):
            raise bad(f"describe must be 'off' or 'on', not {self.describe!r}")
        if self.precision not in PRECISIONS:
            raise bad(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.default_threshold is not None and not 0.0 < float(self.default_threshold) <= 1.0:
            raise bad(f"default_threshold must be in (0, 1], not {self.default_threshold!r}")
