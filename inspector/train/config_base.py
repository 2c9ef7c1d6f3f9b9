"""What both trainers' settings share: JSON round trip (stored with checkpoints and detectors) and
the checks of stages, counts and epochs."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Sequence

from ..core.errors import InspectorError
from .families import STAGES


class StagedConfig:
    """Mixin for a dataclass with `stages` (tuple) and `epochs`; `POSITIVE` names integer fields
    that must be at least 1."""

    POSITIVE: Sequence[str] = ("epochs", "samples_per_epoch", "batch_size")

    def to_json(self) -> dict:
        d = asdict(self)  # type: ignore[call-overload]
        d["stages"] = list(self.stages)  # type: ignore[attr-defined]
        return d

    @classmethod
    def from_json(cls, data: dict):  # noqa: ANN206 - the subclass
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        out = cls(**{k: v for k, v in data.items() if k in known})
        out.stages = tuple(out.stages)
        return out

    def check(self) -> None:
        stages = self.stages  # type: ignore[attr-defined]
        if not stages or any(s not in STAGES for s in stages) or len(set(stages)) != len(stages):
            raise InspectorError(f"stages must be one or both of {', '.join(STAGES)} (each once), "
                                 f"not {','.join(stages) or 'nothing'}")
        for name in self.POSITIVE:
            if int(getattr(self, name)) < 1:
                raise InspectorError(f"training setting {name} must be at least 1")
        if len(stages) > self.epochs:  # type: ignore[attr-defined]
            raise InspectorError(f"{len(stages)} stages need at least {len(stages)} epochs")
