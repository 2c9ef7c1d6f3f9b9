"""Training samples made on the fly from a product's references: every index is a new defect.

Sample i of a stream is a pure function of (seed, stream, i): the same run gives the same
samples (resume is exact), and no two indices share a defect. Each reference is scored by a
standalone model fitted without it (out-of-fold), so the raw maps the head learns from look
like the maps of new parts at inspection time, not like the maps of memorised references.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ..core.errors import InspectorError
from ..core.progress import CancelFn, ProgressFn, check_cancel, report

MIN_REFERENCES = 4  # 3 folds to train on (each reference scored out-of-fold) + 1 held back
IMAGE_MEAN, IMAGE_STD = 0.5, 0.25  # kept for old callers of the example images
MIN_STRENGTH = 0.3  # synthetic defects are planted at 30-100 % of their contrast


def check_reference_count(n: int) -> None:
    if n < MIN_REFERENCES:
        raise InspectorError(f"training a local detector needs at least {MIN_REFERENCES} good reference "
                             f"images (3 to train on, 1 held back for validation); this product has {n} "
                             f"— add {MIN_REFERENCES - n} more with `inspector refs add PRODUCT FOLDER`")


def split_references(n: int) -> tuple[list[int], list[int]]:
    """(train, held-back validation) indices: every 5th reference is held back, at least one."""
    check_reference_count(n)
    val = list(range(2, n, 5)) or [n - 1]
    return [i for i in range(n) if i not in val], val


def compress(z: np.ndarray) -> np.ndarray:
    """Monotone: log-compressed above 0 (the good median), linear below; order is kept."""
    return np.log1p(np.maximum(z, 0)) + np.minimum(z, 0)


def normalised(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return compress((np.asarray(values, np.float32) - lo) / max(hi - lo, 1e-12)).astype(np.float32)


def head_input(raw_map: np.ndarray, evidence: np.ndarray, score: float, norm: Sequence[Sequence[float]],
               hw: Optional[tuple[int, int]] = None) -> np.ndarray:
    """(C + 2, h, w) float32 on the engine's patch grid (or resized to `hw`): the standalone map,
    its evidence channels, and the image score as a constant channel, each in units of the
    product's good images (norm[c] = (median, 99.9 % quantile) of out-of-fold good references;
    the score uses the map's)."""
    import cv2

    eh, ew = evidence.shape[1:]
    m = cv2.resize(raw_map.astype(np.float32), (ew, eh), interpolation=cv2.INTER_AREA)
    chans = np.concatenate([m[None], evidence], 0)
    if hw is not None and tuple(hw) != (eh, ew):
        # one channel at a time: OpenCV's area resampling takes at most 4 channels
        chans = np.stack([cv2.resize(c, (hw[1], hw[0]), interpolation=cv2.INTER_AREA) for c in chans])
    out = [normalised(c, *norm[i]) for i, c in enumerate(chans)]
    out.append(np.full_like(out[0], normalised(np.float32(score), *norm[0])))
    return np.ascontiguousarray(np.stack(out), dtype=np.float32)


def target_map(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(1, h, w) soft target: the share of each grid cell the defect covers."""
    import cv2

    h, w = hw
    return cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)[None]


@dataclass
class FoldScorers:
    """Standalone models fitted on folds of the training references; `norm` holds, per head
    input channel (map, then evidence), (median, 99.9 % quantile) over out-of-fold good patches;
    `hw` is the patch grid of the references' usual size, where training samples are worked."""

    models: list[Any]
    fold_of: dict[int, int]  # training reference index -> model that has not seen it
    norm: list[tuple[float, float]]
    full: Any  # fitted on all training references: scores the held-back ones
    hw: tuple[int, int] = (0, 0)

    def evidence(self, ref_index: Optional[int], image: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(raw score, raw map, evidence) from a model that has not seen reference `ref_index`."""
        model = self.full if ref_index is None else self.models[self.fold_of[ref_index]]
        return model.evidence(image)

    def score(self, ref_index: Optional[int], image: np.ndarray) -> np.ndarray:
        return self.evidence(ref_index, image)[1]


def fit_fold_scorers(references: Sequence[np.ndarray], train_idx: Sequence[int],
                     settings: Optional[dict] = None, folds: int = 3,
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> FoldScorers:
    from ..engines.standalone import StandaloneModel

    k = min(folds, len(train_idx))
    groups = [list(train_idx[i::k]) for i in range(k)]
    models, fold_of, pixels, cells, shapes = [], {}, [], [], []
    rng = np.random.default_rng(0)
    for f, held in enumerate(groups):
        check_cancel(cancel)
        report(progress, f, k + 1, f"standalone fold {f + 1} of {k}")
        model = StandaloneModel(settings)
        model.fit([references[j] for j in train_idx if j not in held], cancel=cancel)
        for j in held:
            fold_of[j] = f
            _, raw, ev = model.evidence(references[j])
            raw = raw.ravel()
            pixels.append(raw[rng.choice(raw.size, min(raw.size, 50_000), replace=False)])
            cells.append(ev.reshape(ev.shape[0], -1))
            shapes.append(ev.shape[1:])
        models.append(model)
    check_cancel(cancel)
    report(progress, k, k + 1, "standalone on all training references")
    full = StandaloneModel(settings)
    full.fit([references[j] for j in train_idx], cancel=cancel)
    norm = [_range(np.concatenate(pixels))]
    norm += [_range(row) for row in np.concatenate(cells, 1)]
    hw = max(set(shapes), key=shapes.count)  # the usual grid (most references have one size)
    return FoldScorers(models, fold_of, norm, full, (int(hw[0]), int(hw[1])))


def _range(values: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.median(values)), float(np.quantile(values, 0.999))
    return lo, max(hi, lo + 1e-6)


Stored = tuple  # (image path, mask path or None, index of the reference it was made from or None)


def usable_synthetic(synthetic: Sequence[Stored], val_idx: Sequence[int]) -> list[Stored]:
    """The stored synthetic samples a run may train on: not those made from a held-back reference
    (validation would see its own defects' background)."""
    held = set(val_idx)
    return [s for s in synthetic if s[2] is None or s[2] not in held]


class DefectStream:
    """Map-style dataset: index -> (input (C,h,w), target (1,h,w), label) from one rule family, or,
    with `synthetic`, from stored samples of the product's synthetic sets (defective draws).

    Half the samples (on average) stay good, so the image head learns both classes.
    """

    def __init__(self, references: Sequence[np.ndarray], ref_indices: Sequence[int], scorers: FoldScorers,
                 kinds: Sequence[str], seed: int, stream: int,
                 defect_fraction: float = 0.5, out_of_fold: bool = True, synthetic: Sequence[Stored] = ()) -> None:
        self.references, self.ref_indices = references, list(ref_indices)
        self.scorers, self.kinds, self.hw = scorers, tuple(kinds), scorers.hw
        self.seed, self.stream, self.defect_fraction = seed, stream, defect_fraction
        self.out_of_fold, self.synthetic = out_of_fold, list(synthetic)
        self._fg: dict[int, np.ndarray] = {}

    def foreground(self, j: int) -> np.ndarray:
        from ..generate.masks import foreground_mask

        if j not in self._fg:
            self._fg[j] = foreground_mask(self.references[j])
        return self._fg[j]

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray, tuple, float]:
        """(defective-or-good image, mask (bool, or soft in [0, 1] for a stored sample), standalone
        (score, map, evidence), label) of index i."""
        from ..core.image_io import load_image, load_soft_mask

        rng = np.random.default_rng([self.seed, self.stream, int(i)])
        j = self.ref_indices[int(rng.integers(len(self.ref_indices)))]
        if self.synthetic and rng.random() < self.defect_fraction:
            path, mask_path, made_from = self.synthetic[int(rng.integers(len(self.synthetic)))][:3]
            image = load_image(path)
            # scored by a model that has not seen its reference, like a new part at inspection
            fold = made_from if self.out_of_fold and made_from in self.scorers.fold_of else None
            return image, load_soft_mask(mask_path, image.shape[:2]), self.scorers.evidence(fold, image), 1.0
        fraction = 0.0 if self.synthetic else self.defect_fraction
        image, mask, label = defect_or_good(self.references[j], self.foreground(j), self.kinds, rng, fraction)
        return image, mask, self.scorers.evidence(j if self.out_of_fold else None, image), label

    def __getitem__(self, i: int):
        import torch

        image, mask, (score, raw, ev), label = self.sample(i)
        return (torch.from_numpy(head_input(raw, ev, score, self.scorers.norm, self.hw)),
                torch.from_numpy(target_map(mask, self.hw)), torch.tensor(label, dtype=torch.float32))


class IndexRange:
    """The sample indices [start, stop) of a stage, as a dataset the DataLoader can shard."""

    def __init__(self, stream: DefectStream, start: int, stop: int) -> None:
        self.stream, self.start, self.stop = stream, start, stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __getitem__(self, k: int):
        return self.stream[self.start + k]


def steps_for(samples: int, batch: int) -> int:
    return math.ceil(samples / batch)


def defect_or_good(image: np.ndarray, foreground: np.ndarray, kinds: Sequence[str], rng: np.random.Generator,
                   defect_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray, float]:
    """(image, bool mask, label) from one reference: a plausible re-shot of it (gain, sensor noise),
    with a rule defect of one of `kinds` in `defect_fraction` of the draws (label 1), else good (0).
    The same draws as DefectStream.sample, for trainers that do not score with the standalone engine."""
    from ..generate.rules import make_defect

    image = np.clip(image.astype(np.float32) * rng.uniform(0.95, 1.05)
                    + rng.normal(0, 1.0, image.shape), 0, 255).astype(np.uint8)
    mask = np.zeros(image.shape[:2], bool)
    if rng.random() < defect_fraction:
        kind = str(kinds[int(rng.integers(len(kinds)))])
        made, mask, _ = make_defect(image, rng, kind=kind, foreground=foreground,
                                    scale=float(rng.uniform(0.5, 1.5)))
        return (*faded(image, made, mask, float(rng.uniform(MIN_STRENGTH, 1.0))), 1.0)
    return image, mask, 0.0


def faded(image: np.ndarray, made: np.ndarray, mask: np.ndarray, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """The defect of `made` (on `image`) at `strength` of its contrast, and the pixels it still changes:
    rule defects at full strength are far above what the engine already finds, so a head trained
    on them alone learns nothing about the faint ones a real line misses."""
    from ..generate.contract import CHANGE_TOLERANCE

    if strength >= 1.0:
        return made, mask
    diff = made.astype(np.float32) - image
    out = np.clip(np.rint(image + strength * diff), 0, 255).astype(np.uint8)
    still = mask & (np.abs(out.astype(np.int16) - image).max(axis=2) > CHANGE_TOLERANCE)
    return (out, still) if still.any() else (made, mask)
