"""Shared engine layer: thresholds, calibration folds, detector results and regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inspector.core.thresholds import expected_frr, threshold_for_frr
from inspector.engines.base import ScoreModel
from inspector.engines.calibrate import fit_and_calibrate, holdout_folds, recalibrate
from inspector.engines.detector import Calibration, Detector


class MeanDiffModel(ScoreModel):
    """Test double: |image - mean reference| per pixel; score = max of the map."""

    engine_id = "meandiff"
    version = "t"

    def fit(self, references, progress=None, cancel=None):
        self.mean = np.mean([r.astype(np.float32) for r in references], axis=0)

    def score(self, images):
        out = []
        for im in images:
            m = np.abs(im.astype(np.float32) - self.mean).mean(axis=2)
            out.append((float(m.max()), m))
        return out

    def save(self, folder: Path):
        np.save(folder / "mean.npy", self.mean)

    @classmethod
    def load(cls, folder, settings=None, device="cpu"):
        m = cls(settings, device)
        m.mean = np.load(folder / "mean.npy")
        return m


def _goods(n, rng):
    return [np.clip(128 + rng.normal(0, 4, (40, 50, 3)), 0, 255).astype(np.uint8) for _ in range(n)]


def test_threshold_for_frr():
    scores = np.linspace(0, 1, 1001)
    t = threshold_for_frr(scores, 0.01)
    assert expected_frr(scores, t) <= 0.011
    few = [1.0, 1.1, 0.9, 1.05]
    assert threshold_for_frr(few, 0.01) > max(few)  # extrapolates beyond the few seen
    with pytest.raises(ValueError):
        threshold_for_frr([], 0.01)


def test_holdout_folds_cover_everything():
    assert holdout_folds(1) == []
    for n in (2, 5, 16, 60):
        folds = holdout_folds(n)
        assert sorted(sum(folds, [])) == list(range(n))
    assert len(holdout_folds(100)[0]) == 20


@pytest.mark.parametrize("n", [1, 6, 25])
def test_fit_and_calibrate_good_calm_defect_hot(n):
    rng = np.random.default_rng(0)
    refs = _goods(n, rng)
    model, cal = fit_and_calibrate(lambda: MeanDiffModel(), refs, 0.01)
    assert cal.map_hi > cal.map_lo and len(cal.good_scores) >= min(n, 8)
    det = Detector(model, cal, "blob")
    good = det.predict(_goods(1, np.random.default_rng(99))[0])
    bad_img = _goods(1, np.random.default_rng(98))[0]
    bad_img[10:20, 20:30] = 255
    bad = det.predict(bad_img)
    assert good.verdict == "OK" and not good.mask.any() and good.regions == []
    assert float(np.median(good.anomaly_map)) < 0.5
    assert bad.verdict == "NG" and bad.score > good.score
    r = bad.regions[0]
    assert r.label == "blob" and r.box[0] <= 22 and r.box[2] >= 28 and r.area_px == r.mask.sum()
    assert bad.anomaly_map.shape == (40, 50) and bad.anomaly_map.dtype == np.float32
    assert bad.timings_ms["total"] >= bad.timings_ms["score"]


def test_recalibrate_moves_threshold_monotonically():
    cal = Calibration(threshold=1.0, map_lo=0, map_hi=1, good_scores=list(np.linspace(0, 1, 200)))
    assert recalibrate(cal, 0.10).threshold < recalibrate(cal, 0.01).threshold
    assert Calibration.from_json(cal.to_json()) == cal


def test_outlier_reference_does_not_set_the_threshold():
    from inspector.core.thresholds import outlier_mask

    rng = np.random.default_rng(1)
    scores = list(np.exp(rng.normal(0.4, 0.1, 30)))
    assert not outlier_mask(scores).any()
    with_bad = scores + [3.6]
    flags = outlier_mask(with_bad)
    assert flags.tolist() == [False] * 30 + [True]
    assert not outlier_mask(with_bad[-5:]).any()  # too few to judge


def test_calibration_names_the_suspect_reference():
    rng = np.random.default_rng(0)
    refs = _goods(12, rng)
    refs[5][5:15, 5:15] = 255  # a "good" reference that is not
    _, cal = fit_and_calibrate(lambda: MeanDiffModel(), refs, 0.01)
    assert cal.suspect_references == [5]
    assert cal.threshold < max(cal.good_scores)
