"""Synthetic sets: files then rows, resume, review, retrieval filter, export, delete; the CLI."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from inspector.core.errors import Cancelled, ConflictError, InspectorError
from inspector.core.image_io import load_image, load_mask, save_png
from inspector.services import synthetic as sy


@pytest.fixture(scope="module")
def washer_refs(tmp_path_factory) -> Path:
    from inspector.generate.procedural import write_demo_dataset

    root = tmp_path_factory.mktemp("data")
    return write_demo_dataset(root, "washer", n_train=4, n_test_good=0, n_test_bad=0, size=160) / "train" / "good"


@pytest.fixture
def product(ws, washer_refs):
    from inspector.services.products import create_product
    from inspector.services.references import add_references

    create_product(ws, "washer", defect_words=["scratch", "dent", "missing piece"])
    add_references(ws, "washer", [washer_refs])
    return "washer"


def _rows(ws):
    from sqlalchemy import select

    from inspector.storage.models import SyntheticSample

    with ws.session() as s:
        return [(r.image_path, r.mask_path, dict(r.parameters), r.accepted, r.filter_score)
                for r in s.scalars(select(SyntheticSample).order_by(SyntheticSample.id))]


def test_a_set_is_files_then_rows_with_exact_masks_and_recipes(ws, product):
    items = list(sy.generate_set(ws, product, "first", sy.RunSettings(count=6, seed=3)))
    assert [x.index for x in items] == list(range(6))
    assert [x.defect for x in items[:3]] == ["scratch", "dent", "missing piece"]
    refs = {r.sha256: load_image(ws.abs_path(r.path)) for r in __import__(
        "inspector.services.references", fromlist=["x"]).list_references(ws, product)}
    for x in items:
        img, mask = load_image(x.image_path), load_mask(x.mask_path)
        ref = refs[x.recipe["reference"]]
        change = np.abs(img.astype(int) - ref).max(axis=2)
        assert np.array_equal(mask, change > x.recipe["tolerance"])
        assert x.filter["descriptor"] == "standalone-v1" and 0 < x.filter_score <= 1
        assert x.accepted == x.filter["keep"]
    rows = _rows(ws)
    assert len(rows) == 6 and all(r[2]["set"] == "first" for r in rows)
    info = sy.get_set(ws, product, "first")
    assert info.n_samples == 6 and info.count == 6 and info.method == "rules"
    assert [s.name for s in sy.list_sets(ws)] == ["first"]


def test_an_interrupted_run_resumes_at_the_first_missing_index_with_the_same_bytes(ws, product):
    settings = sy.RunSettings(count=8, seed=5, defect="scratch")
    seen = []

    def cancel() -> bool:
        return len(seen) >= 3

    with pytest.raises(Cancelled):
        for x in sy.generate_set(ws, product, "run", settings, cancel=cancel):
            seen.append(x)
    assert len(_rows(ws)) == 3
    resumed = list(sy.generate_set(ws, product, "run", settings))
    assert [x.index for x in resumed] == [3, 4, 5, 6, 7]
    whole = list(sy.generate_set(ws, product, "whole", settings))
    run = {x.index: x for x in sy.get_set(ws, product, "run").samples}
    for x in whole:
        assert x.image_path.read_bytes() == run[x.index].image_path.read_bytes()
    with pytest.raises(ConflictError, match="other settings \\(seed\\)"):
        list(sy.generate_set(ws, product, "run", sy.RunSettings(count=8, seed=6, defect="scratch")))
    more = list(sy.generate_set(ws, product, "run", sy.RunSettings(count=10, seed=5, defect="scratch")))
    assert [x.index for x in more] == [8, 9] and sy.get_set(ws, product, "run").count == 10


def test_a_failed_sample_is_skipped_and_the_run_goes_on(ws, product, monkeypatch):
    real = sy.make_one

    def flaky(refs, settings, words, index, *args, **kwargs):
        if index == 1:
            raise InspectorError("could not place the defect")
        return real(refs, settings, words, index, *args, **kwargs)

    monkeypatch.setattr(sy, "make_one", flaky)
    out = list(sy.generate_set(ws, product, "flaky", sy.RunSettings(count=3)))
    assert isinstance(out[1], sy.SampleFailure) and out[1].index == 1
    assert [x.index for x in out if isinstance(x, sy.SampleInfo)] == [0, 2]


def test_a_full_disk_stops_the_run_and_leaves_no_half_written_sample(ws, product, monkeypatch):
    real = sy.atomic_write_bytes
    calls = []

    def fill_up(path, data):
        calls.append(path)
        if len(calls) == 5:  # set.json, sample 0 (mask, image), then sample 1's mask fails
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(sy, "atomic_write_bytes", fill_up)
    with pytest.raises(OSError):
        list(sy.generate_set(ws, product, "full", sy.RunSettings(count=4)))
    rows = _rows(ws)
    assert len(rows) == 1 and rows[0][2]["index"] == 0
    folder = sy.get_set(ws, product, "full").folder
    assert sorted(p.name for p in folder.iterdir()) == ["00000.png", "00000_mask.png", "00001_mask.png", "set.json"]


def test_no_references_is_a_clear_error(ws):
    from inspector.services.products import create_product

    create_product(ws, "empty")
    with pytest.raises(InspectorError, match="no reference images to generate from .*refs add"):
        list(sy.generate_set(ws, "empty", "x", sy.RunSettings(count=2)))
    assert sy.list_sets(ws) == []
    with pytest.raises(InspectorError, match="set name"):
        list(sy.generate_set(ws, "empty", "../up", sy.RunSettings(count=2)))


def test_review_refilter_export_and_delete(ws, product, tmp_path):
    items = list(sy.generate_set(ws, product, "rev", sy.RunSettings(count=6, seed=1)))
    sy.set_accepted(ws, items[0].id, False)
    sy.set_accepted(ws, items[1].id, True)
    kept, dropped = sy.refilter_set(ws, product, "rev", {"min_similarity": 1.01})  # nothing passes
    assert (kept, dropped) == (1, 5)  # only the sample accepted by hand stays
    info = sy.get_set(ws, product, "rev")
    assert [x.accepted for x in info.samples] == [False, True, False, False, False, False]
    assert "too far from the product" in info.samples[2].filter["reason"]
    kept, _ = sy.refilter_set(ws, product, "rev", {"min_similarity": 0.0, "min_change": 0.0})
    assert kept == 5
    out = sy.export_set(ws, product, "rev", tmp_path / "export")
    assert out == tmp_path / "export" / "rev"
    assert len(list((out / "train" / "good").iterdir())) == 4
    tests = sorted(p.relative_to(out / "test").as_posix() for p in (out / "test").rglob("*.png"))
    masks = sorted(p.relative_to(out / "ground_truth").as_posix() for p in (out / "ground_truth").rglob("*.png"))
    assert len(tests) == 5 and [m.replace("_mask", "") for m in masks] == tests
    from inspector.core.mvtec import list_categories

    assert list_categories(tmp_path / "export") == ["rev"]
    with pytest.raises(ConflictError, match="already exists"):
        sy.export_set(ws, product, "rev", tmp_path / "export")
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["rev"]  # no temp folder left
    folder = info.folder
    assert sy.delete_set(ws, product, "rev") == 6
    assert not folder.exists() and _rows(ws) == []


def test_the_filter_drops_an_inconsistent_image_and_an_invisible_change():
    from inspector.generate.filter import RetrievalFilter
    from inspector.generate.procedural import render_good

    rng = np.random.default_rng(0)
    refs = [render_good("washer", rng, 160) for _ in range(4)]
    f = RetrievalFilter.fit(refs)
    same = render_good("washer", rng, 160)
    other = render_good("fabric", rng, 160)
    mask = np.zeros((160, 160), bool)
    mask[70:90, 20:40] = True
    good = f.judge(same, mask, same)
    assert f.similarity(same) > 0.3 > f.similarity(other)
    assert not good["keep"] and "no visible change" in good["reason"]
    odd = f.judge(other, mask, same)
    assert not odd["keep"] and "too far" in odd["reason"]
    changed = same.copy()
    changed[mask] = 255 - changed[mask]
    assert f.judge(changed, mask, same)["keep"]


def test_cli_generate_show_export_delete(cli, washer_refs, tmp_path):
    assert cli("workspace", "init", str(cli.workspace))[0] == 0
    assert cli("products", "add", "washer", "--defect", "scratch")[0] == 0
    assert cli("refs", "add", "washer", str(washer_refs))[0] == 0
    code, out, err = cli("generate", "washer", "--count", "4", "--seed", "2")
    assert code == 0, err
    assert "set 'rules-mixed-s2' of 'washer': 4 new sample(s)" in out
    code, out, _ = cli("synth", "list")
    assert "rules-mixed-s2" in out and "washer" in out
    code, out, _ = cli("synth", "show", "washer", "rules-mixed-s2")
    assert code == 0 and out.count("scratch") >= 4
    code, out, _ = cli("generate", "washer", "--count", "4", "--seed", "2")
    assert "0 new sample(s)" in out  # already complete: a rerun resumes, nothing to do
    code, out, err = cli("synth", "export", "washer", "rules-mixed-s2", str(tmp_path / "ex"), "--include-rejected")
    assert code == 0, err
    assert len(list((tmp_path / "ex" / "rules-mixed-s2" / "test").rglob("*.png"))) == 4
    code, _, err = cli("synth", "delete", "washer", "rules-mixed-s2")
    assert code == 1 and "confirm with --yes rules-mixed-s2" in err
    assert cli("synth", "delete", "washer", "rules-mixed-s2", "--yes", "rules-mixed-s2")[0] == 0
    code, out, _ = cli("synth", "methods")
    assert "rules" in out and "available" in out


def test_cli_bad_input_is_one_line_and_changes_nothing(cli, washer_refs, monkeypatch):
    cli("workspace", "init", str(cli.workspace))
    code, _, err = cli("generate", "nosuch", "--count", "2")
    assert code == 1 and err.startswith("error: unknown product 'nosuch'") and "Traceback" not in err
    cli("products", "add", "bare")
    code, _, err = cli("generate", "bare")
    assert code == 1 and "no reference images to generate from" in err
    code, _, err = cli("generate", "bare", "--method", "cut9")
    assert code == 1 and "unknown generation method 'cut9'" in err
    cli("products", "add", "washer")
    cli("refs", "add", "washer", str(washer_refs))
    real = sy.atomic_write_bytes

    def full(path, data):
        if path.name != "set.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(sy, "atomic_write_bytes", full)
    code, _, err = cli("generate", "washer", "--count", "3")
    assert code == 1 and "error: the disk is full" in err


def test_the_filter_uses_a_clip_image_encoder_when_given_one(tmp_path):
    from inspector.generate.filter import RetrievalFilter, _clip_embedder
    from inspector.generate.procedural import render_good
    from weights_fixtures import TINY_CLIP_CONFIG, build_tiny_open_clip

    path = build_tiny_open_clip(tmp_path / "clip" / "open_clip_pytorch_model.bin")
    embed = _clip_embedder(("ViT-B-32", path, TINY_CLIP_CONFIG))
    rng = np.random.default_rng(1)
    refs = [render_good("washer", rng, 96) for _ in range(3)]
    f = RetrievalFilter.fit(refs, embed=("tiny-clip", embed))
    assert f.descriptor == "tiny-clip" and f.refs.shape == (3, 32)
    assert f.similarity(refs[0]) == pytest.approx(1.0)
    mask = np.zeros((96, 96), bool)
    mask[40:60, 10:30] = True
    verdict = f.judge(refs[0], mask, refs[0])
    assert verdict["descriptor"] == "tiny-clip" and 0 < verdict["similarity"] <= 1
