"""Thresholds from good images only."""

from __future__ import annotations

from statistics import NormalDist
from typing import Sequence

import numpy as np


def threshold_for_frr(good_scores: Sequence[float], frr: float = 0.01) -> float:
    """Image threshold expected to reject a fraction `frr` of good parts.

    With few scores the empirical quantile is just the maximum, which underestimates the
    tail; a Gaussian fit (mean + z * std) extrapolates it. The higher of the two is used,
    so few references err towards fewer false rejects. Verdict is NG when score >= threshold.
    """
    s = np.asarray(good_scores, dtype=np.float64)
    if s.size == 0:
        raise ValueError("no good-image scores to calibrate on")
    if not 0.0 < frr < 1.0:
        raise ValueError("frr must be in (0, 1)")
    empirical = float(np.quantile(s, 1.0 - frr, method="higher"))
    if s.size < 2:
        return float(s[0] * 1.05 + 1e-6) if s[0] > 0 else float(s[0] + abs(s[0]) * 0.05 + 1e-6)
    z = NormalDist().inv_cdf(1.0 - frr)
    gaussian = float(s.mean() + z * s.std(ddof=1))
    return float(np.nextafter(max(empirical, gaussian), np.inf))


def outlier_mask(good_scores: Sequence[float], k: float = 4.0, max_fraction: float = 0.1) -> np.ndarray:
    """True for held-out good scores far above the rest (robust z > k, in log space when all
    scores are positive, since anomaly scores are right-skewed). Such a "good" image is often a
    mislabelled or unusual reference; one of them must not set the threshold on its own.
    At most `max_fraction` of the scores (the highest) are flagged; none with fewer than 8.
    """
    s = np.asarray(good_scores, dtype=np.float64)
    flags = np.zeros(s.size, bool)
    if s.size < 8:
        return flags
    x = np.log(s) if (s > 0).all() else s
    med = np.median(x)
    sigma = 1.4826 * np.median(np.abs(x - med))
    if sigma <= 0:
        return flags
    z = (x - med) / sigma
    order = np.argsort(-z)[: int(max_fraction * s.size)]
    flags[order] = z[order] > k
    return flags


def expected_frr(good_scores: Sequence[float], threshold: float) -> float:
    """Fraction of the given good scores that the threshold would reject."""
    s = np.asarray(good_scores, dtype=np.float64)
    return float((s >= threshold).mean()) if s.size else float("nan")


def histogram(scores: Sequence[float], bins: int = 30) -> tuple[list[int], list[float]]:
    """Counts and bin edges for the score histogram shown beside the threshold slider."""
    counts, edges = np.histogram(np.asarray(scores, dtype=np.float64), bins=bins)
    return counts.tolist(), edges.tolist()
