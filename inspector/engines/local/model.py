"""Standalone raw maps refined by a trained head (inspector.train): a map and an image score.

The head folder (head.safetensors + head.json) comes from the product's active detector
(setting `detector_path`, set by `inspector detectors activate`) or is given in memory by the
trainer. `fit` refits only the standalone part on the references, so the shared calibration
(held-out folds) works as for every engine; `save` copies the head into the fitted state, which
is then self-contained.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ...core.errors import InspectorError
from ...core.image_io import atomic_write_bytes
from ...core.progress import CancelFn, ProgressFn
from ..base import Availability, ScoreModel

HEAD_WEIGHTS, HEAD_META = "head.safetensors", "head.json"
HEAD_FILES = (HEAD_WEIGHTS, HEAD_META)
HEAD_DIR = "head"
STATE_JSON = "local.json"  # the local engine's own version, next to the standalone state


def availability(settings: dict[str, Any]) -> Availability:
    path = settings.get("detector_path")
    if not path:
        return Availability(False, "no local detector is active for this product: train one with "
                                   "`inspector train PRODUCT` and activate it")
    if not all((Path(path) / f).is_file() for f in HEAD_FILES):
        return Availability(False, f"the active local detector's files are missing in {path}: train again "
                                   "or activate another with `inspector detectors activate PRODUCT VERSION`")
    return Availability(True)


def write_head(folder: Path, state_dict: dict, meta: dict) -> None:
    from safetensors.torch import save as st_save

    atomic_write_bytes(Path(folder) / HEAD_WEIGHTS, st_save({k: v.contiguous() for k, v in state_dict.items()}))
    atomic_write_bytes(Path(folder) / HEAD_META, json.dumps(meta, indent=1).encode())


def read_head(folder: Path) -> tuple[dict, dict]:
    """(state_dict, meta) of a head folder; InspectorError with the fix when unreadable."""
    from safetensors.torch import load as st_load

    folder = Path(folder)
    try:
        meta = json.loads((folder / HEAD_META).read_text())
        state = st_load((folder / HEAD_WEIGHTS).read_bytes())
        meta["norm"], meta["work_hw"], meta["width"]  # noqa: B018 - presence check
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise InspectorError(f"the local detector in {folder} is unreadable ({exc}) — train it again "
                             "or activate another version") from None
    check_head_version(meta, folder)
    return state, meta


def check_head_version(meta: dict, where: Any = "memory") -> None:
    from ...train.head import HEAD_VERSION

    if meta.get("head_version") != HEAD_VERSION or "n_in" not in meta:
        raise InspectorError(f"the local detector in {where} was trained by an older version of Inspector "
                             f"(head format {meta.get('head_version')}, this one reads {HEAD_VERSION}) — "
                             "train it again")


class LocalModel(ScoreModel):
    engine_id = "local"
    # 2: the head weighs the standalone engine's evidence (head format 2); 3: the image score is a
    # probability (sigmoid of the head's image logit), so thresholds are in (0, 1) like a share
    version = "3"

    def __init__(self, settings: Optional[dict[str, Any]] = None, device: str = "cpu") -> None:
        super().__init__(settings, device)
        self.standalone = None
        self.head = None
        self.meta: dict = {}

    def set_head(self, state_dict: dict, meta: dict) -> None:
        from ...train.head import build_head

        check_head_version(meta)
        head = build_head(int(meta["n_in"]), int(meta["width"]))
        try:
            head.load_state_dict(state_dict)
        except RuntimeError as exc:
            raise InspectorError(f"the local detector's weights do not fit its network ({exc}) — train "
                                 "it again") from None
        self.head = head.to(self.device).eval()
        self.meta = dict(meta)

    def _standalone_settings(self) -> dict:
        from ..standalone import SETTINGS

        return {k: v for k, v in self.settings.items() if k in SETTINGS}

    def fit(self, references: Sequence[np.ndarray], progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelFn] = None) -> None:
        from ..standalone import StandaloneModel

        if self.head is None:
            status = availability(self.settings)
            if not status.ok:
                raise InspectorError(status.reason)
            self.set_head(*read_head(Path(self.settings["detector_path"])))
        model = StandaloneModel(self._standalone_settings(), self.device)
        model.fit(references, progress, cancel)
        self.standalone = model

    def score(self, images: Sequence[np.ndarray]) -> list[tuple[float, np.ndarray]]:
        """(image defect probability in (0, 1), pixel logit map at input size). A probability, not
        the logit, so an operator reads "score 0.91 / threshold 0.20" and the recheck band (a share
        of the threshold) has a meaning; the ranking is the logit's. The head works on the engine's patch grid
        of each image (its own size); its bounded correction is brought to input size and added
        to the engine's full-resolution map under the head's transform, so pixels keep the
        engine's sharpness and an untrained head ranks them exactly like the engine."""
        import cv2
        import torch

        from ...train.data import head_input, normalised

        if self.standalone is None or self.head is None:
            raise InspectorError("the local model is not fitted: fit it on good references first")
        out = []
        norm = self.meta["norm"]
        gain, bias = float(self.head.map_gain.detach()), float(self.head.map_bias.detach())
        for image in images:
            score, raw, ev = self.standalone.evidence(np.asarray(image))
            h, w = raw.shape
            x = head_input(raw, ev, score, norm)
            with torch.no_grad():
                s, m = self.head(torch.from_numpy(x)[None].to(self.device))
            correction = m[0].float().cpu().numpy() - (gain * x[0] + bias)
            pixel = gain * normalised(raw, *norm[0]) + bias + \
                cv2.resize(correction, (w, h), interpolation=cv2.INTER_LINEAR)
            out.append((float(torch.sigmoid(s[0].double())), pixel.astype(np.float32)))
        return out

    def save(self, folder: Path) -> None:
        if self.standalone is None or self.head is None:
            raise InspectorError("the local model is not fitted: nothing to save")
        self.standalone.save(folder)
        atomic_write_bytes(Path(folder) / STATE_JSON, json.dumps({"engine_id": self.engine_id,
                                                                  "version": self.version}).encode())
        (Path(folder) / HEAD_DIR).mkdir(exist_ok=True)
        write_head(Path(folder) / HEAD_DIR, self.head.state_dict(), self.meta)

    @classmethod
    def load(cls, folder: Path, settings: Optional[dict[str, Any]] = None, device: str = "cpu") -> "LocalModel":
        from ..standalone import StandaloneModel

        try:
            saved = json.loads((Path(folder) / STATE_JSON).read_text()).get("version")
        except (OSError, ValueError, AttributeError):
            saved = None  # states of local version 2 and before wrote no local.json
        if saved != cls.version:
            raise InspectorError(f"{folder}: saved by local engine version {saved or '2 or older'}, this is "
                                 f"version {cls.version} (its scores are on another scale): fit the product again")
        model = cls(settings, device)
        model.standalone = StandaloneModel.load(folder, model._standalone_settings(), device)
        model.set_head(*read_head(Path(folder) / HEAD_DIR))
        return model
