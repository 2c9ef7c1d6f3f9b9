"""Ignore regions: boxes of a product's images that are not inspected (a clamp, a date code, a
crop's edge). They take effect with the next fit, calibration included, and never make an NG."""

from __future__ import annotations

import numpy as np
import pytest

from fault_tools import run_cli_here as run_cli

from inspector.core import ignore_regions as regions
from inspector.core.errors import InspectorError
from inspector.core.image_io import save_png


def test_boxes_are_checked_and_rasterised():
    assert regions.parse_box("0, 0, 0.25, 1") == (0.0, 0.0, 0.25, 1.0)
    for bad in ("0,0,1", "a,b,c,d", "0.5,0,0.2,1", "0,0,1.5,1", "nan,0,1,1"):
        with pytest.raises(InspectorError):
            regions.parse_box(bad)
    with pytest.raises(InspectorError, match="less than 5%"):
        regions.check_regions([[0, 0, 1, 0.5], [0, 0.5, 1, 0.99]])
    with pytest.raises(InspectorError, match="at most 16"):
        regions.check_regions([[0, 0, 0.01, 0.01]] * 17)
    assert regions.check_regions(None) == [] and regions.describe([]) == "none"
    mask = regions.ignored_mask([(0.0, 0.0, 0.25, 1.0), (0.5, 0.5, 0.6, 0.6)], (40, 80))
    assert mask[:, :20].all() and not mask[:, 20:40].any()
    assert mask[20:24, 40:48].all() and mask.sum() == 40 * 20 + 4 * 8
    assert regions.describe([(0.0, 0.0, 0.5, 1.0)]) == "1 region, 50% of the image ignored"


def test_the_score_is_taken_over_the_inspected_part_only():
    raw = np.full((20, 40), 1.0, np.float32)
    raw[5, 3] = 9.0  # in the ignored left quarter
    raw[10, 30] = 2.5
    score, out = regions.apply_regions(9.0, raw, [(0.0, 0.0, 0.25, 1.0)])
    assert score == 2.5 and out[5, 3] == 1.0 and out[10, 30] == 2.5
    assert raw[5, 3] == 9.0  # the engine's own map is not changed
    assert regions.apply_regions(9.0, raw, [])[0] == 9.0


def _surface(rng: np.random.Generator) -> np.ndarray:
    import cv2

    noise = rng.normal(128, 40, (96, 128)).astype(np.float32)
    grey = np.clip(cv2.GaussianBlur(noise, (0, 0), 1.5), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, 2)


def test_a_defect_in_an_ignored_region_passes_once_fitted_and_published(tmp_path, capsys):
    rng = np.random.default_rng(0)
    refs, test = tmp_path / "refs", tmp_path / "test"
    refs.mkdir()
    test.mkdir()
    for i in range(8):
        save_png(refs / f"{i}.png", _surface(rng))
    left, right = _surface(rng), _surface(rng)
    left[40:56, 12:28] = 15  # a dark spot in the left quarter (a clamp's shadow, say)
    right[40:56, 96:112] = 15
    save_png(test / "left.png", left)
    save_png(test / "right.png", right)
    root = tmp_path / "ws"
    assert run_cli(capsys, root, "workspace", "init")[0] == 0
    assert run_cli(capsys, root, "products", "add", "plate")[0] == 0
    assert run_cli(capsys, root, "refs", "add", "plate", refs)[0] == 0
    assert run_cli(capsys, root, "fit", "plate")[0] == 0
    code, out, _ = run_cli(capsys, root, "inspect", "plate", test / "left.png", "--no-record")
    assert code == 0 and "NG" in out

    code, out, _ = run_cli(capsys, root, "products", "update", "plate", "--ignore", "0,0,0.3,1")
    assert code == 0 and "refit it" in out
    code, out, _ = run_cli(capsys, root, "products", "show", "plate")
    assert "1 region, 30% of the image ignored" in out and "0.000,0.000,0.300,1.000" in out
    # the published state keeps its own regions until a fit of the new ones is published
    code, out, _ = run_cli(capsys, root, "inspect", "plate", test / "left.png", "--no-record")
    assert "NG" in out and "draft pending: ignore regions changed since v1 was published" in out
    assert run_cli(capsys, root, "fit", "plate")[0] == 0
    assert run_cli(capsys, root, "publish", "plate")[0] == 0
    # 8 random surfaces set a rough threshold; the scores are what is tested (good ones: 1.1-1.4)
    assert run_cli(capsys, root, "threshold", "plate", "--score", "3")[0] == 0
    code, out, _ = run_cli(capsys, root, "inspect", "plate", test, "--no-record")
    verdicts = {word.rsplit("/", 1)[-1]: line.split()[0] for line in out.splitlines()
                if line.startswith(("OK", "NG")) for word in line.split() if word.endswith(".png")}
    assert verdicts == {"left.png": "OK", "right.png": "NG"}, out
    assert "draft pending" not in out
    # each result names the pixels it did not inspect, for the window's and the saved overlays
    from inspector.core.overlay import render_overlay
    from inspector.services.engine_state import load_detector
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(root)
    try:
        result = load_detector(ws, "plate").predict(left)
    finally:
        ws.close()
    assert result.verdict == "OK" and result.ignored == [(0, 0, 39, 96)]
    assert np.ptp(result.anomaly_map[:, :39]) == 0  # flat where not inspected
    drawn = render_overlay(left, result, heat=False, boxes=False, banner=False)
    assert drawn[50, 60].tolist() == left[50, 60].tolist() and drawn[50, 20].tolist() != left[50, 20].tolist()

    code, out, _ = run_cli(capsys, root, "audit", "plate")
    assert code == 0 and "ignore_regions" in out
    # refused input changes nothing
    code, _, err = run_cli(capsys, root, "products", "update", "plate", "--ignore", "0,0,1,0.99")
    assert code != 0 and err.startswith("error: ") and "Traceback" not in err
    assert "30% of the image ignored" in run_cli(capsys, root, "products", "show", "plate")[1]
    assert run_cli(capsys, root, "products", "update", "plate", "--clear-ignore")[0] == 0
    assert "ignore:        none" in run_cli(capsys, root, "products", "show", "plate")[1]


def test_engines_that_find_their_own_boxes_refuse_ignore_regions():
    from inspector.engines.ignoring import regions_for

    assert regions_for("standalone", {regions.KEY: [[0, 0, 0.5, 1]]}) == [(0.0, 0.0, 0.5, 1.0)]
    assert regions_for("iapas", {}) == []
    with pytest.raises(InspectorError, match="does not take ignore regions"):
        regions_for("iapas", {regions.KEY: [[0, 0, 0.5, 1]]})


def test_a_product_on_iapas_refuses_ignore_regions(tmp_path, capsys):
    root = tmp_path / "ws"
    assert run_cli(capsys, root, "workspace", "init")[0] == 0
    assert run_cli(capsys, root, "products", "add", "part", "--engine", "iapas")[0] == 0
    code, _, err = run_cli(capsys, root, "products", "update", "part", "--ignore", "0,0,0.5,1")
    assert code != 0 and "does not take ignore regions" in err and "nothing was changed" in err
    assert "ignore:        none" in run_cli(capsys, root, "products", "show", "part")[1]


def test_the_recall_estimate_plants_its_defects_where_the_product_is_inspected():
    from inspector.generate.rules import recall_defect

    rng = np.random.default_rng(5)
    good = _surface(rng)
    for seed in range(6):
        bad = recall_defect(good, np.random.default_rng(seed), ignore=[(0.0, 0.0, 0.7, 1.0)])
        changed = np.abs(bad.astype(int) - good).max(2) > 0
        assert changed.any() and not changed[:, :89].any()  # 0.7 of 128 px: the box ends at column 89
