"""Fit an engine on a product's references and calibrate it on held-out good images."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ..core.progress import CancelFn, ProgressFn, check_cancel, report
from ..core.thresholds import outlier_mask, threshold_for_frr
from .base import ScoreModel
from .detector import Calibration

PIXEL_QUANTILE = 0.999  # the pixel threshold: 1 in 1000 held-out good pixels is above it
MAX_PIXEL_SAMPLES = 2_000_000


def holdout_folds(n: int) -> list[list[int]]:
    """Index sets held out in turn: out-of-fold for small sets, one spread-out 20 % for large."""
    if n < 2:
        return []
    if n <= 60:
        k = min(n, 3)
        return [list(range(i, n, k)) for i in range(k)]
    return [list(range(0, n, 5))]


def _augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible re-shot of a good part: small shift, gain and sensor noise."""
    h, w = image.shape[:2]
    dy, dx = (int(v) for v in rng.integers(-max(1, h // 100), max(1, h // 100) + 1, 2))
    shifted = np.roll(image, (dy, dx), axis=(0, 1)).astype(np.float32)
    shifted = shifted * rng.uniform(0.97, 1.03) + rng.normal(0, 1.5, shifted.shape)
    return np.clip(shifted, 0, 255).astype(np.uint8)


# defect_maker(good image, rng) -> the same image with one synthetic defect; the services
# layer passes one in (engines do not import the generator).
DefectMaker = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def fit_and_calibrate(make_model: Callable[[], ScoreModel], references: Sequence[np.ndarray],
                      target_frr: float = 0.01, progress: Optional[ProgressFn] = None,
                      cancel: Optional[CancelFn] = None,
                      defect_maker: Optional[DefectMaker] = None) -> tuple[ScoreModel, Calibration]:
    """Held-out good scores set the threshold; then the final model is fitted on all references.

    With one reference, mild re-shots of it stand in for held-out images (method
    "self-augmented"); the threshold is then a rough guide and the GUI says so.
    With a `defect_maker`, each held-out image also gets a synthetic defect pasted on it; the
    share of those reaching the threshold is an estimate of recall (synthetic_recall).
    """
    n = len(references)
    if n == 0:
        raise ValueError("no reference images")
    folds = holdout_folds(n)
    steps = len(folds) + 1
    scores: list[float] = []
    score_refs: list[int] = []  # reference index of each held-out score
    pixels: list[np.ndarray] = []
    rng = np.random.default_rng(0)

    def sample(raw_map: np.ndarray) -> np.ndarray:
        flat = raw_map.ravel()
        k = min(flat.size, MAX_PIXEL_SAMPLES // max(n, 1))
        return flat[rng.choice(flat.size, k, replace=False)] if k < flat.size else flat

    synthetic_scores: list[float] = []
    for i, held in enumerate(folds):
        check_cancel(cancel)
        report(progress, i, steps, f"calibrating: fold {i + 1} of {len(folds)}")
        train = [references[j] for j in range(n) if j not in held]
        model = make_model()
        model.fit(train, cancel=cancel)
        for j, (s, m) in zip(held, model.score([references[j] for j in held])):
            scores.append(float(s))
            score_refs.append(j)
            pixels.append(sample(m))
        if defect_maker is not None:
            defective = [defect_maker(references[j], rng) for j in held]
            synthetic_scores += [float(s) for s, _ in model.score(defective)]
    check_cancel(cancel)
    report(progress, len(folds), steps, f"fitting on all {n} reference(s)")
    model = make_model()
    model.fit(list(references), cancel=cancel)
    method = "holdout"
    if not folds:
        method = "self-augmented"
        for s, m in model.score([_augment(references[0], rng) for _ in range(8)]):
            scores.append(float(s))
            pixels.append(sample(m))
    suspects = outlier_mask(scores) if folds else np.zeros(len(scores), bool)
    pixels = [p for p, bad in zip(pixels, suspects) if not bad]
    allpix = np.concatenate(pixels)
    lo = float(np.median(allpix))
    hi = float(np.quantile(allpix, PIXEL_QUANTILE))
    if hi <= lo:
        hi = lo + max(abs(lo) * 0.1, 1e-6)
    kept = [s for s, bad in zip(scores, suspects) if not bad]
    calibration = Calibration(threshold=threshold_for_frr(kept, target_frr), map_lo=lo, map_hi=hi,
                              target_frr=target_frr, good_scores=scores, method=method,
                              suspect_references=sorted(score_refs[i] for i in np.flatnonzero(suspects)))
    if synthetic_scores:
        calibration.synthetic_recall = float(np.mean(np.array(synthetic_scores) >= calibration.threshold))
    report(progress, steps, steps, "fitted and calibrated")
    return model, calibration


def recalibrate(calibration: Calibration, target_frr: float) -> Calibration:
    """Same good scores, new false-reject target (the threshold slider); a fixed score ends."""
    scores = calibration.good_scores
    kept = [s for s, bad in zip(scores, outlier_mask(scores)) if not bad] if calibration.suspect_references else scores
    return Calibration(**{**calibration.to_json(), "target_frr": target_frr, "fixed_score": False, "note": "",
                          "threshold": threshold_for_frr(kept, target_frr)})
