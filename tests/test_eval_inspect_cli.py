"""eval / inspect / fit / bench commands end to end with a test engine, and their bad inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from helpers import tree_snapshot
from test_calibration import MeanDiffModel

import inspector.engines.registry as registry


@pytest.fixture(autouse=True)
def meandiff_engine(monkeypatch):
    spec = registry.EngineSpec("meandiff", "test", "test double", "test_calibration:MeanDiffModel",
                               registry.Requirements(), lambda s: registry.Availability(True))
    monkeypatch.setitem(registry.ENGINES, "meandiff", spec)


def _img(rng, defect=False):
    a = np.clip(120 + rng.normal(0, 3, (48, 64, 3)), 0, 255).astype(np.uint8)
    m = np.zeros((48, 64), np.uint8)
    if defect:
        a[10:20, 30:40] = 250
        m[10:20, 30:40] = 255
    return a, m


@pytest.fixture
def mvtec(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for sub, n, defect in (("train/good", 6, False), ("test/good", 4, False), ("test/blob", 4, True)):
        (root / "toy" / sub).mkdir(parents=True)
        for i in range(n):
            a, m = _img(rng, defect)
            Image.fromarray(a).save(root / "toy" / sub / f"{i:03d}.png")
            if defect:
                (root / "toy/ground_truth/blob").mkdir(parents=True, exist_ok=True)
                Image.fromarray(m).save(root / f"toy/ground_truth/blob/{i:03d}_mask.png")
    return root


def test_eval_json_and_maps(cli, mvtec, tmp_path):
    code, out, err = cli("eval", mvtec, "--engine", "meandiff", "--json", tmp_path / "r.json",
                         "--save-maps", tmp_path / "maps", "--shots", "3")
    assert code == 0, err
    assert "I-AUROC" in out and "toy" in out and "mean" in out
    r = json.loads((tmp_path / "r.json").read_text())
    toy = r["categories"]["toy"]
    assert toy["i_auroc"] == 1.0 and toy["n_refs"] == 3 and toy["p_auroc"] > 0.95
    assert len(toy["images"]) == 8 and {i["label"] for i in toy["images"]} == {0, 1}
    maps = sorted((tmp_path / "maps" / "toy").rglob("*.png"))
    assert len(maps) == 8
    m = np.asarray(Image.open(maps[0]))
    assert m.dtype == np.uint16 and m.shape == (48, 64)


def test_eval_bad_inputs(cli, mvtec, tmp_path):
    before = tree_snapshot(mvtec)
    assert "no such folder" in cli("eval", tmp_path / "nope", "--engine", "meandiff")[2]
    (tmp_path / "flat").mkdir()
    assert "MVTec-AD layout" in cli("eval", tmp_path / "flat", "--engine", "meandiff")[2]
    assert "no such category" in cli("eval", mvtec, "--engine", "meandiff", "--category", "x")[2]
    assert "unknown engine" in cli("eval", mvtec, "--engine", "nope")[2]
    (mvtec / "toy/ground_truth/blob/001_mask.png").unlink()
    code, _, err = cli("eval", mvtec, "--engine", "meandiff")
    assert code == 1 and "no ground-truth mask" in err
    shutil.copy(mvtec / "toy/test/good/000.png", mvtec / "toy/ground_truth/blob/001_mask.png")
    (mvtec / "toy/test/good/002.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, _, err = cli("eval", mvtec, "--engine", "meandiff")
    assert code == 1 and "002.png" in err
    assert code == 1


def test_fit_inspect_history(cli, mvtec, tmp_path):
    cli("workspace", "init")
    cli("products", "add", "toy", "--engine", "meandiff")
    cli("refs", "add", "toy", mvtec / "toy/train/good")
    code, out, err = cli("fit", "toy")
    assert code == 0 and "threshold" in out, err
    code, out, err = cli("inspect", "toy", mvtec / "toy/test", "--save-overlays", tmp_path / "ov")
    assert code == 0 and "8 image(s)" in out, err  # test/ holds sorted sub-folders: all inspected
    code, out, err = cli("inspect", "toy", mvtec / "toy/test/good", mvtec / "toy/test/blob",
                         "--save-overlays", tmp_path / "ov")
    assert code == 0, err
    assert out.count("NG ") >= 4 and "8 image(s)" in out
    assert len(list((tmp_path / "ov").glob("*_NG.png"))) >= 4
    code, out, _ = cli("inspect", "toy", mvtec / "toy/test/blob", "--fail-on-ng", "--no-record")
    assert code == 2
    code, out, _ = cli("history", "toy", "--verdict", "NG")
    assert "NG" in out and "region" in out
    code, out, _ = cli("threshold", "toy", "--frr", "5")
    assert code == 0 and "5.0%" in out


def test_inspect_bad_inputs_change_nothing(cli, mvtec, tmp_path):
    cli("workspace", "init")
    cli("products", "add", "toy", "--engine", "meandiff")
    assert "no reference images" in cli("inspect", "toy", mvtec / "toy/test/good")[2]
    cli("refs", "add", "toy", mvtec / "toy/train/good")
    cli("fit", "toy")
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(mvtec / "toy/test/blob/000.png", bad / "a.png")
    (bad / "b.png").write_bytes((mvtec / "toy/test/blob/001.png").read_bytes()[:80])
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "one.png")
    before = tree_snapshot(cli.workspace)
    for args, msg in (((bad / "b.png",), "corrupt or truncated"), ((tmp_path / "one.png",), "too small"),
                      ((tmp_path / "missing.png",), "no such file")):
        code, _, err = cli("inspect", "toy", *args)
        assert code == 1 and msg in err
        assert tree_snapshot(cli.workspace) == before
    assert "unknown product" in cli("inspect", "ghost", bad / "a.png")[2]
    # a batch with one unreadable file: the file is listed as skipped, the rest is inspected
    code, out, err = cli("inspect", "toy", bad)
    assert code == 0, err
    assert "SKIPPED" in out and "b.png" in out and "corrupt or truncated" in out
    assert "1 image(s)" in out and "1 skipped" in out


def test_inspect_16_bit_tiff(cli, mvtec, tmp_path):
    cli("workspace", "init")
    cli("products", "add", "toy", "--engine", "meandiff")
    cli("refs", "add", "toy", mvtec / "toy/train/good")
    a = np.asarray(Image.open(mvtec / "toy/test/good/000.png").convert("L")).astype(np.uint16) * 257
    Image.fromarray(a).save(tmp_path / "g16.tif")
    code, out, err = cli("inspect", "toy", tmp_path / "g16.tif")
    assert code == 0 and "1 image(s)" in out, err


def test_bench_command(cli, tmp_path):
    code, out, err = cli("bench", "--engine", "meandiff", "--size", "96", "--refs", "2", "--n", "4",
                         "--json", tmp_path / "b.json")
    assert code == 0, err
    assert "p50" in out and "fit" in out
    r = json.loads((tmp_path / "b.json").read_text())
    assert r["n"] == 4 and r["p95_ms"] >= r["p50_ms"] > 0 and r["images_per_s"] > 0
    assert "--random-weights applies" in cli("bench", "--engine", "meandiff", "--random-weights")[2]
    with pytest.raises(SystemExit) as exc:  # argparse rejects it before any work
        cli("bench", "--engine", "meandiff", "--n", "0")
    assert exc.value.code == 2
