"""Metrics against scikit-learn, brute force and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import precision_recall_curve, roc_auc_score

from inspector.core import metrics
from inspector.core.metrics import f1_max, pixel_f1_max, pixel_roc_auc, pro_auc, roc_auc, summarize


def _brute_f1(labels, scores):
    """Best F1 by trying every observed score as threshold (score >= t is anomalous)."""
    labels = np.asarray(labels, bool)
    best, best_t = -1.0, None
    for t in np.unique(scores)[::-1]:
        pred = scores >= t
        tp = np.sum(pred & labels)
        f1 = 2 * tp / (pred.sum() + labels.sum())
        if f1 > best:
            best, best_t = f1, t
    return best, best_t


def _random_pixels(rng, sizes, decimals=None, defect_rate=0.05):
    masks, maps = [], []
    for h, w in sizes:
        base = ndimage.gaussian_filter(rng.random((h, w)), 2)
        mask = base > np.quantile(base, 1 - defect_rate)
        amap = rng.normal(size=(h, w)) + 1.5 * mask
        if decimals is not None:
            amap = np.round(amap, decimals)
        masks.append(mask)
        maps.append(amap.astype(np.float32))
    return masks, maps


def _flat(masks, maps):
    return np.concatenate([m.ravel() for m in masks]), np.concatenate([a.ravel() for a in maps])


# ---- image level ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_roc_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    labels = rng.random(n) < rng.uniform(0.1, 0.9)
    labels[:2] = [True, False]
    scores = np.round(rng.normal(size=n) + labels, int(rng.integers(0, 2)))  # many ties
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_roc_auc_hand_computed():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # pairs (pos, neg): (.5,.5)=1/2, (.5,.2)=1, (.9,.5)=1, (.9,.2)=1 -> 3.5 / 4
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875)
    assert roc_auc([True, False], [0.3, 0.3]) == 0.5


def test_roc_auc_perfect_inverted_and_one_class():
    labels = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert roc_auc(labels, scores) == 1.0
    assert roc_auc(labels, -scores) == 0.0
    assert math.isnan(roc_auc([0, 0, 0], [0.1, 0.2, 0.3]))  # all normal
    assert math.isnan(roc_auc([1, 1], [0.1, 0.2]))  # all anomalous
    assert math.isnan(roc_auc([], []))


def test_f1_max_hand_computed():
    # t=.8: 2/(1+2)=.667  t=.4: 2/4=.5  t=.35: 4/5=.8  t=.1: 4/6=.667
    f1, thr = f1_max([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert f1 == pytest.approx(0.8) and thr == 0.35


@pytest.mark.parametrize("seed", range(6))
def test_f1_max_matches_brute_force_and_sklearn(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(5, 300))
    labels = rng.random(n) < 0.3
    labels[0] = True
    scores = np.round(rng.normal(size=n) + labels, 1)
    f1, thr = f1_max(labels, scores)
    ref_f1, ref_t = _brute_f1(labels, scores)
    assert f1 == pytest.approx(ref_f1, abs=1e-12) and thr == ref_t
    p, r, _ = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        assert f1 == pytest.approx(np.nanmax(2 * p * r / (p + r)), abs=1e-12)


def test_f1_max_edge_cases():
    assert all(math.isnan(v) for v in f1_max([0, 0], [0.1, 0.2]))  # no positives
    assert f1_max([1, 1], [0.2, 0.1]) == (1.0, 0.1)  # all positive: flag everything
    assert f1_max([0, 1], [0.9, 0.1])[0] == pytest.approx(2 / 3)  # inverted


def test_input_validation():
    with pytest.raises(ValueError, match="0/1"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="labels but"):
        f1_max([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="same"):
        pixel_roc_auc([np.zeros((4, 4), bool)], [np.zeros((4, 5))])
    with pytest.raises(ValueError, match="masks but"):
        pixel_roc_auc([np.zeros((4, 4), bool)], [])
    with pytest.raises(ValueError, match="NaN"):
        pixel_roc_auc([np.eye(4, dtype=bool)], [np.full((4, 4), np.nan)], exact_max_pixels=0)
    with pytest.raises(ValueError, match="fpr_limit"):
        pro_auc([np.eye(4, dtype=bool)], [np.eye(4)], fpr_limit=0)


# ---- pixel level ----------------------------------------------------------------------------

def test_pixel_exact_matches_sklearn_on_mixed_sizes_with_ties():
    rng = np.random.default_rng(7)
    masks, maps = _random_pixels(rng, [(40, 50), (64, 64), (17, 90)], decimals=1)
    masks.append(np.zeros((30, 30), bool))  # a good image
    maps.append(np.round(rng.normal(size=(30, 30)), 1).astype(np.float32))
    y, s = _flat(masks, maps)
    assert pixel_roc_auc(masks, maps) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    f1, thr = pixel_f1_max(masks, maps)
    assert (f1, thr) == pytest.approx(_brute_f1(y, s), abs=1e-12)


def test_pixel_masks_may_be_uint8():
    rng = np.random.default_rng(8)
    masks, maps = _random_pixels(rng, [(32, 32)])
    as_255 = [m.astype(np.uint8) * 255 for m in masks]
    assert pixel_roc_auc(as_255, maps) == pixel_roc_auc(masks, maps)


@pytest.mark.parametrize("decimals", [None, 2])
def test_binned_path_within_1e3_of_sklearn_and_within_bound(decimals):
    rng = np.random.default_rng(11)
    masks, maps = _random_pixels(rng, [(256, 256), (200, 300), (128, 400)], decimals=decimals)
    y, s = _flat(masks, maps)
    ref = roc_auc_score(y, s)
    binned = pixel_roc_auc(masks, maps, exact_max_pixels=0)
    assert abs(binned - ref) < 1e-3
    # the documented bound, computed on the same grid
    grid = metrics._BinGrid(float(s.min()), float(s.max()), metrics.DEFAULT_BINS)
    idx = grid.index(s)
    pb, nb = np.bincount(idx[y], minlength=grid.bins), np.bincount(idx[~y], minlength=grid.bins)
    bound = 0.5 * np.sum(pb.astype(float) * nb) / (y.sum() * float((~y).sum()))
    assert abs(binned - ref) <= bound + 1e-12
    # coarse bins: a visibly different value, still inside its bound
    coarse = pixel_roc_auc(masks, maps, bins=8, exact_max_pixels=0)
    grid8 = metrics._BinGrid(grid.lo, grid.hi, 8)
    i8 = grid8.index(s)
    b8 = 0.5 * np.sum(np.bincount(i8[y], minlength=8).astype(float) * np.bincount(i8[~y], minlength=8))
    assert coarse != pytest.approx(ref, abs=1e-3)
    assert abs(coarse - ref) <= b8 / (y.sum() * float((~y).sum())) + 1e-12


def test_binned_f1_threshold_is_real_and_close():
    rng = np.random.default_rng(12)
    masks, maps = _random_pixels(rng, [(256, 256), (100, 300)])
    y, s = _flat(masks, maps)
    exact_f1, _ = pixel_f1_max(masks, maps)
    for bins in (2**16, 64):
        f1, thr = pixel_f1_max(masks, maps, bins=bins, exact_max_pixels=0)
        assert thr in s  # a real score, the lowest one in the chosen bins
        pred = s >= thr  # so it reproduces the returned F1 exactly
        assert f1 == pytest.approx(2 * np.sum(pred & y) / (pred.sum() + y.sum()), abs=1e-12)
        assert f1 <= exact_f1 + 1e-12
    assert pixel_f1_max(masks, maps, exact_max_pixels=0)[0] == pytest.approx(exact_f1, abs=1e-3)


def test_binned_grid_spans_min_to_max():
    # 2 bins over [0, 1]: {0, .1} | {.9, 1}; the maximum belongs to the top bin
    masks, maps = [np.array([[0, 0, 1, 1]], bool)], [np.array([[0.0, 0.1, 0.9, 1.0]])]
    assert pixel_roc_auc(masks, maps, bins=2, exact_max_pixels=0) == 1.0
    assert pixel_f1_max(masks, maps, bins=2, exact_max_pixels=0) == (1.0, 0.9)
    assert pixel_roc_auc(masks, maps, bins=1, exact_max_pixels=0) == 0.5
    flat = [np.full((3, 3), 0.7)]  # max == min: one bin, all ties
    assert pixel_roc_auc([np.eye(3, dtype=bool)], flat, exact_max_pixels=0) == 0.5


def test_default_switches_to_binned_above_exact_limit(monkeypatch):
    rng = np.random.default_rng(13)
    masks, maps = _random_pixels(rng, [(64, 64)], decimals=3)
    exact = pixel_roc_auc(masks, maps)
    monkeypatch.setattr(metrics, "EXACT_MAX_PIXELS", 100)
    monkeypatch.setattr(metrics, "DEFAULT_BINS", 4)
    assert pixel_roc_auc(masks, maps) != pytest.approx(exact, abs=1e-4)
    assert pixel_roc_auc(masks, maps) == pixel_roc_auc(masks, maps, bins=4, exact_max_pixels=0)


@pytest.mark.parametrize("limit", [None, 0])
def test_pixel_perfect_inverted_and_empty_masks(limit):
    mask = np.zeros((20, 30), bool)
    mask[5:9, 10:20] = True
    good = np.zeros((10, 10), bool)
    amap = mask.astype(np.float32) + 0.01 * np.random.default_rng(0).random(mask.shape)
    masks, maps = [mask, good], [amap, np.zeros((10, 10))]
    assert pixel_roc_auc(masks, maps, exact_max_pixels=limit) == 1.0
    assert pixel_roc_auc(masks, [-m for m in maps], exact_max_pixels=limit) == 0.0
    assert pixel_f1_max(masks, maps, exact_max_pixels=limit)[0] == 1.0
    # empty masks: every pixel normal
    assert math.isnan(pixel_roc_auc([good, good], [np.ones((10, 10))] * 2, exact_max_pixels=limit))
    assert all(math.isnan(v) for v in pixel_f1_max([good], [np.ones((10, 10))], exact_max_pixels=limit))
    assert math.isnan(pro_auc([good], [np.ones((10, 10))], num_thresholds=None if limit is None else 16))
    assert math.isnan(pixel_roc_auc([], []))


# ---- PRO ------------------------------------------------------------------------------------

@pytest.mark.parametrize("num_thresholds", [None, 2**16, 3])
def test_pro_perfect_map_is_one(num_thresholds):
    rng = np.random.default_rng(3)
    masks, _ = _random_pixels(rng, [(60, 80), (50, 50)], defect_rate=0.1)
    masks.append(np.zeros((20, 20), bool))
    maps = [m.astype(np.float64) for m in masks]
    assert pro_auc(masks, maps, num_thresholds=num_thresholds) == pytest.approx(1.0, abs=1e-12)
    assert pro_auc([~m for m in masks], maps, num_thresholds=num_thresholds) == pytest.approx(0.0)


def test_pro_hand_checked_two_regions():
    # image A: region R1 = {.9, .6} (size 2), normals {.7, .1}
    # image B: region R2 = {.8, .8, .3, .3} (size 4), normals {.6, .1}
    masks = [np.array([[1, 1, 0, 0]], bool), np.array([[0, 0, 1, 1, 1, 1]], bool)]
    maps = [np.array([[0.9, 0.6, 0.7, 0.1]]), np.array([[0.6, 0.1, 0.8, 0.8, 0.3, 0.3]])]
    # curve (fpr, pro): (0,0) (0,.25) (0,.5) (.25,.5) (.5,.75) (.5,1) (1,1)
    assert pro_auc(masks, maps, fpr_limit=1.0) == pytest.approx(0.78125)
    # up to .3: .25*.5 + .05*(.5 + .55)/2 = .15125, interpolated pro(.3) = .55
    assert pro_auc(masks, maps, fpr_limit=0.3) == pytest.approx(0.15125 / 0.3)
    assert pro_auc(masks, maps, fpr_limit=0.5) == pytest.approx((0.125 + 0.15625) / 0.5)
    # the binned path with enough bins to separate these scores gives the same numbers
    assert pro_auc(masks, maps, fpr_limit=0.3, num_thresholds=1000) == pytest.approx(0.15125 / 0.3)


def test_pro_uses_8_connectivity():
    # the lone corner pixel touches the L-shape diagonally: one region of 4 pixels
    mask = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 1]], bool)
    amap = np.where(mask, 0.2, 0.5)
    amap[0, 0] = 0.9
    # curve (0,0) (0,.25) (1,.25) (1,1): 0.25 (4-connectivity would give 0.5)
    assert pro_auc([mask], [amap], fpr_limit=1.0) == pytest.approx(0.25)


def _brute_pro(masks, maps, fpr_limit):
    """PRO by looping over every distinct score as a threshold (slow, obviously right)."""
    labelled = [ndimage.label(m, structure=np.ones((3, 3)))[0] for m in masks]
    normal = sum(int((~m).sum()) for m in masks)
    pts = [(0.0, 0.0)]
    for t in np.unique(np.concatenate([a.ravel() for a in maps]))[::-1]:
        overlaps = [np.mean(a[lab == r] >= t) for lab, a in zip(labelled, maps) for r in range(1, lab.max() + 1)]
        fp = sum(int(np.sum((a >= t) & ~m)) for m, a in zip(masks, maps))
        pts.append((fp / normal, float(np.mean(overlaps))))
    x, y = map(np.array, zip(*pts))  # ends at (1, 1): the lowest score flags everything
    keep = x <= fpr_limit
    xs, ys = x[keep].tolist(), y[keep].tolist()
    if xs[-1] < fpr_limit:
        j = int(np.argmax(x > fpr_limit))
        xs.append(fpr_limit)
        ys.append(y[j - 1] + (fpr_limit - x[j - 1]) * (y[j] - y[j - 1]) / (x[j] - x[j - 1]))
    return np.trapezoid(ys, xs) / fpr_limit


@pytest.mark.parametrize("seed", range(3))
def test_pro_matches_brute_force(seed):
    rng = np.random.default_rng(50 + seed)
    masks, maps = _random_pixels(rng, [(30, 40), (25, 25)], decimals=1, defect_rate=0.15)
    masks.append(np.zeros((10, 20), bool))
    maps.append(np.round(rng.normal(size=(10, 20)), 1))
    for limit in (0.3, 1.0):
        assert pro_auc(masks, maps, fpr_limit=limit) == pytest.approx(_brute_pro(masks, maps, limit), abs=1e-9)


def test_pro_binned_close_to_exact():
    rng = np.random.default_rng(60)
    masks, maps = _random_pixels(rng, [(256, 256), (128, 300)], defect_rate=0.08)
    exact = pro_auc(masks, maps)
    assert pro_auc(masks, maps, num_thresholds=2**16) == pytest.approx(exact, abs=1e-3)
    assert pro_auc(masks, maps, num_thresholds=2**10) == pytest.approx(exact, abs=1e-2)


# ---- summary --------------------------------------------------------------------------------

def test_summarize_matches_parts_and_handles_good_images():
    rng = np.random.default_rng(70)
    masks, maps = _random_pixels(rng, [(40, 40)] * 3)
    masks += [np.zeros((40, 40), bool)] * 2
    maps += [rng.normal(size=(40, 40)).astype(np.float32) for _ in range(2)]
    labels = np.array([1, 1, 1, 0, 0])
    scores = np.array([a.max() for a in maps])
    out = summarize(labels, scores, masks, maps)
    assert set(out) == {"i_auroc", "i_f1max", "p_auroc", "p_f1max", "pro"}
    assert all(isinstance(v, float) for v in out.values())
    assert out["i_auroc"] == pytest.approx(roc_auc_score(labels, scores))
    assert out["i_f1max"] == f1_max(labels, scores)[0]
    assert out["p_auroc"] == pixel_roc_auc(masks, maps)
    assert out["p_f1max"] == pixel_f1_max(masks, maps)[0]
    assert out["pro"] == pro_auc(masks, maps)
    assert 0.5 < out["pro"] < 1.0

    only_good = summarize([0, 0], [0.1, 0.2], masks[3:], maps[3:])
    assert all(math.isnan(v) for v in only_good.values())
    with pytest.raises(ValueError, match="image labels"):
        summarize([0], [0.1], masks, maps)
