"""Anomaly-detection metrics in plain numpy: AUROC, F1-max and MVTec-AD PRO.

Image level: one score per image, exact (sort-based, ties count 1/2 like scikit-learn).
Pixel level: all pixels of all test images pooled. Up to `EXACT_MAX_PIXELS` pixels the
sort-based path is exact; above it scores go into `DEFAULT_BINS` equal-width bins between
the global min and max (one pass per image, memory O(bins)), and scores within one bin count
as ties. Each pixel function states its error bound for the binned path.
Undefined figures (one class missing) are float('nan'), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

EXACT_MAX_PIXELS = 2**20  # 1M pixels (16 images of 256x256): exact in ~0.3 s, <100 MB
DEFAULT_BINS = 2**16
PRO_FPR_LIMIT = 0.3  # MVTec-AD convention
NAN = float("nan")


@dataclass(frozen=True)
class _Curve:
    """Counts with score >= thresholds[i] (descending): pos[i] defect, neg[i] normal pixels.

    The last entry holds the totals. `region` (PRO) is the same sum over defect pixels of
    1 / (size of their region). `grid`/`bin_ids` are set when thresholds are bin edges.
    """

    thresholds: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    region: Optional[np.ndarray] = None
    grid: Optional["_BinGrid"] = None
    bin_ids: Optional[np.ndarray] = None

    @property
    def total_pos(self):
        return self.pos[-1] if self.pos.size else 0

    @property
    def total_neg(self):
        return self.neg[-1] if self.neg.size else 0


@dataclass(frozen=True)
class _BinGrid:
    """`bins` equal-width bins over [lo, hi]; the index is monotone in the score."""

    lo: float
    hi: float
    bins: int

    def index(self, scores: np.ndarray) -> np.ndarray:
        scale = self.bins / (self.hi - self.lo) if self.hi > self.lo else 0.0
        idx = ((scores.astype(np.float64, copy=False) - self.lo) * scale).astype(np.int64)
        return np.minimum(idx, self.bins - 1, out=idx)

    def edge(self, k: np.ndarray) -> np.ndarray:
        return self.lo + k * ((self.hi - self.lo) / self.bins)


def _labels(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(labels).ravel()
    if arr.dtype != bool:
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError("labels must be bool or 0/1 (1 = anomalous)")
        arr = arr.astype(bool)
    return arr


def _scores(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64).ravel()
    if arr.size and not np.isfinite(arr).all():
        raise ValueError("scores contain NaN or inf: fix the detector output before scoring")
    return arr


def _exact_curve(scores: np.ndarray, is_pos: np.ndarray, pos_w: Optional[np.ndarray] = None) -> _Curve:
    """Cumulative counts at every distinct score (descending); tied scores form one point.

    With `pos_w` (per-pixel defect weights, same length as scores) the curve's `region` holds
    their cumulative sum. Sorting the two classes apart (argsort only for the small defect
    set) is ~2x faster than one argsort of everything.
    """
    if scores.size == 0:
        return _Curve(np.empty(0), np.zeros(0, np.int64), np.zeros(0, np.int64))
    ps, ns = scores[is_pos], np.sort(scores[~is_pos])
    top_w = None
    if pos_w is None:
        ps = np.sort(ps)
    else:
        order = np.argsort(ps)
        ps = ps[order]
        top_w = np.r_[np.cumsum(pos_w[is_pos][order][::-1])[::-1], 0.0]  # weight at or above ps[i]
    both = np.sort(np.concatenate([ps, ns]), kind="stable")  # two sorted runs: linear merge
    thresholds = both[np.r_[both[1:] != both[:-1], True]][::-1]
    below = np.searchsorted(ps, thresholds)  # defect pixels scoring below each threshold
    region = None if top_w is None else top_w[below]
    return _Curve(thresholds, ps.size - below, ns.size - np.searchsorted(ns, thresholds), region)


def _binned_curve(hist_pos: np.ndarray, hist_neg: np.ndarray, hist_region: Optional[np.ndarray],
                  grid: _BinGrid) -> _Curve:
    """Cumulative counts at the lower edge of every non-empty bin (descending)."""
    keep = np.flatnonzero((hist_pos + hist_neg)[::-1] > 0)
    pos = np.cumsum(hist_pos[::-1])[keep]
    neg = np.cumsum(hist_neg[::-1])[keep]
    region = None if hist_region is None else np.cumsum(hist_region[::-1])[keep]
    bin_ids = grid.bins - 1 - keep
    return _Curve(grid.edge(bin_ids), pos, neg, region, grid, bin_ids)


def _auc(curve: _Curve) -> float:
    """Area under the ROC curve through (0, 0) and every curve point (trapezoids)."""
    p, n = curve.total_pos, curve.total_neg
    if p <= 0 or n <= 0:
        return NAN
    pos = np.r_[0, curve.pos]
    neg = np.r_[0, curve.neg]
    twice_area = np.sum(np.diff(neg) * (pos[1:] + pos[:-1]))
    if np.issubdtype(pos.dtype, np.integer):  # integer counts: exact rational, one rounding
        return int(twice_area) / (2 * int(p) * int(n))
    return float(twice_area / (2.0 * p * n))


def _f1(curve: _Curve) -> tuple[float, float, int]:
    """(best F1, its threshold, curve index); F1 = 2 TP / (TP + FP + P)."""
    p = curve.total_pos
    if p <= 0:
        return NAN, NAN, -1
    tp = curve.pos.astype(np.float64)
    f1 = 2.0 * tp / (tp + curve.neg + float(p))
    i = int(np.argmax(f1))
    return float(f1[i]), float(curve.thresholds[i]), i


def roc_auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve, exact; equals sklearn.metrics.roc_auc_score.

    labels: (N,) bool or 0/1, 1 = anomalous. scores: (N,) float, higher = more anomalous.
    It is the probability that a random anomalous sample scores above a random normal one,
    ties counting 1/2. Returns NaN when only one class (or nothing) is present.
    """
    y, s = _labels(labels), _scores(scores)
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    return _auc(_exact_curve(s, y))


def f1_max(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Best F1 over all thresholds and the (highest) threshold reaching it, exact.

    Prediction is anomalous when score >= threshold; thresholds are the observed scores.
    Returns (NaN, NaN) when there are no anomalous labels; with no normal ones it is 1.0 at
    the lowest score.
    """
    y, s = _labels(labels), _scores(scores)
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    f1, thr, _ = _f1(_exact_curve(s, y))
    return f1, thr


def _pixel_pairs(masks: Sequence[np.ndarray], maps: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(masks) != len(maps):
        raise ValueError(f"{len(masks)} masks but {len(maps)} anomaly maps")
    pairs = []
    for i, (m, a) in enumerate(zip(masks, maps)):
        m, a = np.asarray(m), np.asarray(a)
        if m.ndim != 2 or m.shape != a.shape:
            raise ValueError(f"image {i}: mask {m.shape} and anomaly map {a.shape} must be the same (H, W)")
        pairs.append((m.astype(bool, copy=False), a))
    return pairs


def _region_weights(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Per-pixel 1 / (size of its 8-connected defect region), 0 outside; and the region count."""
    from scipy import ndimage

    if not mask.any():
        return np.zeros(mask.size), 0
    regions, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=int))
    sizes = np.bincount(regions.ravel()).astype(np.float64)
    sizes[0] = np.inf  # background gets weight 0
    return (1.0 / sizes)[regions].ravel(), int(n)


def _pixel_curve(masks: Sequence[np.ndarray], maps: Sequence[np.ndarray], bins: Optional[int],
                 exact_max_pixels: Optional[int], per_region: bool = False) -> tuple[_Curve, int]:
    """Curve over all pixels; `per_region` adds the PRO numerator (`_Curve.region`).

    Returns the curve and the number of defect regions (0 unless `per_region`).
    bins=None and exact_max_pixels=None mean the module defaults.
    """
    pairs = _pixel_pairs(masks, maps)
    bins = DEFAULT_BINS if bins is None else int(bins)
    limit = EXACT_MAX_PIXELS if exact_max_pixels is None else exact_max_pixels
    if bins < 1:
        raise ValueError("bins must be >= 1")
    total = sum(a.size for _, a in pairs)
    n_regions = 0
    if total <= limit:
        scores = _scores(np.concatenate([a.ravel() for _, a in pairs]) if pairs else [])
        flat = np.concatenate([m.ravel() for m, _ in pairs]) if pairs else np.zeros(0, bool)
        pos_w = None
        if per_region:
            ws = [_region_weights(m) for m, _ in pairs]
            pos_w = np.concatenate([w for w, _ in ws]) if ws else np.zeros(0)
            n_regions = sum(n for _, n in ws)
        return _exact_curve(scores, flat, pos_w), n_regions
    lows, highs = zip(*((float(np.min(a)), float(np.max(a))) for _, a in pairs))
    grid = _BinGrid(min(lows), max(highs), bins)
    if not (np.isfinite(grid.lo) and np.isfinite(grid.hi)):
        raise ValueError("anomaly maps contain NaN or inf: fix the detector output before scoring")
    hist_pos, hist_neg = np.zeros(bins, np.int64), np.zeros(bins, np.int64)
    hist_region = np.zeros(bins) if per_region else None
    for m, a in pairs:
        idx, flat = grid.index(a.ravel()), m.ravel()
        both = np.bincount(idx * 2 + flat, minlength=2 * bins)  # code = 2 * bin + is_defect
        hist_pos += both[1::2]
        hist_neg += both[0::2]
        if hist_region is not None and flat.any():
            w, n = _region_weights(m)
            n_regions += n
            hist_region += np.bincount(idx[flat], weights=w[flat], minlength=bins)
    return _binned_curve(hist_pos, hist_neg, hist_region, grid), n_regions


def pixel_roc_auc(masks: Sequence[np.ndarray], maps: Sequence[np.ndarray], *,
                  bins: Optional[int] = None, exact_max_pixels: Optional[int] = None) -> float:
    """Pixel AUROC over all pixels of all images.

    masks: list of (H, W) bool (non-zero = defect); maps: list of (H, W) float anomaly maps of
    the same sizes (sizes may differ between images). Exact when the pixel total is at most
    `exact_max_pixels` (default EXACT_MAX_PIXELS); otherwise `bins` (default DEFAULT_BINS =
    65536) equal-width bins between the global min and max, scores sharing a bin counted as
    ties. Only defect/normal pairs inside one bin change, each by at most 1/2, so
    |binned - exact| <= 0.5 * sum_b(P_b * N_b) / (P * N) <= 0.5 * max_b(N_b) / N, the largest
    fraction of normal pixels falling in a single bin. NaN when no defect or no normal pixel.
    """
    return _auc(_pixel_curve(masks, maps, bins, exact_max_pixels)[0])


def pixel_f1_max(masks: Sequence[np.ndarray], maps: Sequence[np.ndarray], *,
                 bins: Optional[int] = None, exact_max_pixels: Optional[int] = None) -> tuple[float, float]:
    """Best pixel F1 over thresholds and the threshold reaching it (defect when map >= it).

    Same inputs, exact/binned switch and defaults as `pixel_roc_auc`. The binned path
    evaluates only thresholds on bin boundaries, each a real split of the pixels, and returns
    the lowest score in the chosen bins, so the F1 it reports is reproduced exactly by
    `map >= threshold`; it can only be lower than the exact optimum, by at most
    2 * max_b(P_b) / P (largest fraction of defect pixels in one bin). (NaN, NaN) when there
    is no defect pixel.
    """
    pairs = _pixel_pairs(masks, maps)
    curve, _ = _pixel_curve(masks, maps, bins, exact_max_pixels)
    f1, thr, i = _f1(curve)
    if i >= 0 and curve.grid is not None:  # lowest real score at or above the bin edge
        k = curve.bin_ids[i]
        thr = min(float(a.ravel()[curve.grid.index(a.ravel()) >= k].min(initial=np.inf)) for _, a in pairs)
    return f1, thr


def pro_auc(masks: Sequence[np.ndarray], maps: Sequence[np.ndarray], fpr_limit: float = PRO_FPR_LIMIT,
            num_thresholds: Optional[int] = None) -> float:
    """Normalised area under the PRO curve up to `fpr_limit` (MVTec-AD protocol).

    For a threshold t, PRO(t) = mean over every 8-connected defect region of every image
    (scipy.ndimage.label, 3x3 structure, as in the MVTec evaluation code) of the fraction of
    the region's pixels with map >= t; FPR(t) = fraction of normal pixels (all images,
    including good ones) with map >= t. The curve runs from (0, 0) through every threshold to
    (1, 1); PRO is integrated over FPR in [0, fpr_limit] with trapezoids (linearly
    interpolated at fpr_limit) and divided by fpr_limit, so a perfect map gives 1.0.

    masks/maps as in `pixel_roc_auc`. num_thresholds=None: every distinct score is a
    threshold (exact) up to EXACT_MAX_PIXELS pixels, else DEFAULT_BINS equal-width bins
    between global min and max; an int forces that many bins. The binned curve is the exact
    curve sampled at bin edges, so |binned - exact| <= min(max_b dPRO_b, max_b dFPR_b /
    fpr_limit), the largest rise of either axis within one bin. Computed in one pass: a
    histogram of normal pixels and one of defect pixels weighted 1 / region size.
    NaN when there is no defect region or no normal pixel.
    """
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError("fpr_limit must be in (0, 1]")
    curve, n_regions = _pixel_curve(masks, maps, num_thresholds,
                                    0 if num_thresholds is not None else None, per_region=True)
    return _pro(curve, n_regions, fpr_limit)


def _pro(curve: _Curve, n_regions: int, fpr_limit: float) -> float:
    """Normalised area under (FPR, PRO) from (0, 0) up to fpr_limit; see `pro_auc`."""
    n_normal = curve.total_neg
    if n_regions == 0 or n_normal <= 0:
        return NAN
    fpr = np.r_[0.0, curve.neg / float(n_normal)]
    pro = np.r_[0.0, np.minimum(curve.region / n_regions, 1.0)]  # float sums may pass 1 by an ulp
    j = int(np.searchsorted(fpr, fpr_limit, side="right"))  # fpr[:j] <= fpr_limit
    x, y = fpr[:j], pro[:j]
    if j < fpr.size and x[-1] < fpr_limit:
        frac = (fpr_limit - x[-1]) / (fpr[j] - x[-1])
        x, y = np.r_[x, fpr_limit], np.r_[y, y[-1] + frac * (pro[j] - y[-1])]
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2.0)
    return area / fpr_limit


def summarize(image_labels: Sequence[int] | np.ndarray, image_scores: Sequence[float] | np.ndarray,
              masks: Sequence[np.ndarray], maps: Sequence[np.ndarray]) -> dict[str, float]:
    """The held-back evaluation figures for one test set.

    image_labels (N,) 0/1, image_scores (N,); masks/maps: N (H, W) arrays, all-False masks
    for good images. Returns {"i_auroc", "i_f1max", "p_auroc", "p_f1max", "pro"} as floats,
    NaN where undefined: with no defective image every figure is NaN; with no good image
    i_auroc is NaN; with no normal pixel p_auroc and pro are NaN.
    Pixel figures use the defaults of `pixel_roc_auc` and `pro_auc` (fpr_limit 0.3).
    """
    if len(masks) != len(np.asarray(image_labels).ravel()):
        raise ValueError(f"{len(np.asarray(image_labels).ravel())} image labels but {len(masks)} masks")
    curve, n_regions = _pixel_curve(masks, maps, None, None, per_region=True)  # one pass for all
    return {
        "i_auroc": roc_auc(image_labels, image_scores),
        "i_f1max": f1_max(image_labels, image_scores)[0],
        "p_auroc": _auc(curve),
        "p_f1max": _f1(curve)[0],
        "pro": _pro(curve, n_regions, PRO_FPR_LIMIT),
    }
