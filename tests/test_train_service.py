"""Training service, `local` engine and CLI: versions, activate, roll back, delete, refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("accelerate")

from inspector.core.errors import InspectorError
from inspector.core.image_io import encode_png
from inspector.generate.procedural import render_good
from inspector.train.loop import TrainConfig

TINY = {"resolution": 64, "memory_size": 256, "max_candidates": 4096}


def tiny() -> TrainConfig:
    return TrainConfig(epochs=2, samples_per_epoch=8, batch_size=4, width=4, val_defects_per_ref=1)


def make_product(ws, tmp_path, name="washer", n=5):
    from inspector.services import products, references

    products.create_product(ws, name)
    products.update_product(ws, name, engine_settings=dict(TINY))
    folder = tmp_path / f"refs-{name}"
    folder.mkdir()
    for i in range(n):
        (folder / f"{i}.png").write_bytes(encode_png(render_good("washer", np.random.default_rng(i), 48)))
    references.add_references(ws, name, [folder])


def test_train_activate_inspect_roll_back_delete(ws, tmp_path):
    from inspector.services import engine_state, products, training

    make_product(ws, tmp_path)
    v1 = training.train_product(ws, "washer", tiny())
    v2 = training.train_product(ws, "washer", tiny())
    assert (v1.version, v2.version) == (1, 2) and not v1.active
    folder = ws.abs_path(v1.path)
    assert folder.name == "v1" and {"head.safetensors", "head.json", "meta.json"} <= {p.name for p in folder.iterdir()}
    assert not training.run_dir(ws, products.get_product(ws, "washer").id).exists()  # checkpoints cleaned up
    assert set(v1.metrics["validation"]) == {"local", "standalone"} and len(v1.metrics["history"]) == 2
    assert v1.training_set["config"]["epochs"] == 2 and len(v1.training_set["references"]) == 5

    training.activate(ws, "washer", 1)
    info = products.get_product(ws, "washer")
    assert info.engine == "local" and info.state_version == 1
    det = engine_state.load_detector(ws, "washer")
    image = render_good("washer", np.random.default_rng(50), 40)  # another size than the references
    result = det.predict(image)
    assert result.engine_id == "local" and result.anomaly_map.shape == (40, 40)
    assert 0 < result.score < 1 and 0 < result.threshold < 1  # a probability, as an operator reads it
    state = ws.abs_path(products.get_product(ws, "washer").state_path)
    (state / "local.json").rename(state / "local.json.away")  # what a local version 2 state looks like
    from inspector.engines.local.model import LocalModel

    with pytest.raises(InspectorError, match="local engine version 2 or older.*fit the product again"):
        LocalModel.load(state)
    (state / "local.json.away").rename(state / "local.json")
    assert [d.active for d in training.list_detectors(ws, "washer")] == [True, False]

    assert training.detector_in_use(ws, "washer") == 1
    training.activate(ws, "washer", 2)  # a published product: used at once, not left as a draft
    assert training.detector_in_use(ws, "washer") == 2 and products.get_product(ws, "washer").state_version == 2
    assert engine_state.draft_version(ws, products.get_product(ws, "washer")) is None
    assert training.roll_back(ws, "washer").version == 1
    assert training.active_detector(ws, "washer").version == 1 and training.detector_in_use(ws, "washer") == 1
    from inspector.services.audit import list_audit

    activations = [(a.old_value, a.new_value) for a in list_audit(ws, "washer") if a.what == "detector activated"]
    assert sorted(activations) == sorted([("null", '"v1"'), ('"v1"', '"v2"'), ('"v2"', '"v1"')]), activations  # audited
    with pytest.raises(InspectorError, match="oldest"):
        training.roll_back(ws, "washer")
    with pytest.raises(InspectorError, match="active detector.*activate another"):
        training.delete_detector(ws, "washer", 1)
    training.delete_detector(ws, "washer", 2)
    assert [d.version for d in training.list_detectors(ws, "washer")] == [1]
    assert not ws.abs_path(v2.path).exists()
    assert training.train_product(ws, "washer", tiny()).version == 3  # numbers are never reused


def test_too_few_references_changes_nothing(ws, tmp_path):
    from inspector.services import products, training

    make_product(ws, tmp_path, n=3)
    with pytest.raises(InspectorError, match="at least 4 good reference.*has 3"):
        training.train_product(ws, "washer", tiny())
    assert not (ws.product_dir(products.get_product(ws, "washer").id) / "detectors").exists()
    assert training.list_detectors(ws, "washer") == []


def test_local_engine_without_a_detector_says_how_to_get_one():
    from inspector.engines.registry import make_model

    with pytest.raises(InspectorError, match="inspector train PRODUCT"):
        make_model("local", {})


def test_cli_train_and_detectors(cli, tmp_path):
    from inspector.storage.workspace import open_workspace

    assert cli("workspace", "init")[0] == 0
    code, _, _ = cli("products", "add", "washer")
    assert code == 0
    ws = open_workspace(cli.workspace)
    try:
        make_product_refs(ws, tmp_path)
    finally:
        ws.close()
    code, _, err = cli("train", "washer", "--base", "vlad", "--device", "cpu")  # no CLIP weights here
    assert code == 1 and "needs the CLIP weights" in err and "inspector models import" in err, err
    code, _, err = cli("train", "washer", "--stages", "rules,magic")
    assert code == 1 and "--stages" in err
    code, out, err = cli("train", "washer", "--epochs", "2", "--samples", "4", "--device", "cpu",
                         "--stages", "rules,diffusion")
    assert code == 0, err
    assert "trained detector v1" in out and "stand-in" in out and "validation I-AUROC" in err
    code, out, _ = cli("detectors", "list", "washer")
    assert code == 0 and "v1" in out
    code, _, err = cli("detectors", "activate", "washer", "v7")
    assert code == 1 and "no detector v7" in err
    code, out, err = cli("detectors", "activate", "washer", "1", "--device", "cpu")
    assert code == 0, err
    code, out, _ = cli("detectors", "list", "washer")
    assert "yes" in out


def make_product_refs(ws, tmp_path):
    from inspector.services import products, references

    products.update_product(ws, "washer", engine_settings=dict(TINY))
    folder = tmp_path / "cli-refs"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.png").write_bytes(encode_png(render_good("washer", np.random.default_rng(i), 48)))
    references.add_references(ws, "washer", [folder])


def test_eval_with_the_local_engine_trains_on_train_good_only(tmp_path, monkeypatch):
    """eval --engine local trains a head on the category's train/good (test images only scored)."""
    from PIL import Image

    from inspector.core.image_io import load_image
    from inspector.services import evaluation
    from inspector.train import loop

    root = tmp_path / "data" / "toy"
    rng = np.random.default_rng(0)
    for sub, n, defect in (("train/good", 5, False), ("test/good", 2, False), ("test/blob", 2, True)):
        (root / sub).mkdir(parents=True)
        for i in range(n):
            a = render_good("washer", rng, 48)
            if defect:
                a[10:20, 20:30] = 250
                (root / "ground_truth/blob").mkdir(parents=True, exist_ok=True)
                m = np.zeros((48, 48), np.uint8)
                m[10:20, 20:30] = 255
                Image.fromarray(m).save(root / f"ground_truth/blob/{i:03d}_mask.png")
            Image.fromarray(a).save(root / sub / f"{i:03d}.png")
    seen = []
    real_train = loop.train_head

    def spy(references, *a, **kw):
        seen.append([r.tobytes() for r in references])
        schedules.append(a[0].stages)
        return real_train(references, *a, **kw)

    schedules = []
    monkeypatch.setattr(loop, "train_head", spy)
    monkeypatch.setattr(loop, "TrainConfig", lambda **kw: dataclasses.replace(tiny(), **kw))
    out = evaluation.evaluate(tmp_path / "data", "local", settings=dict(TINY))
    r = out["categories"]["toy"]
    assert out["engine"] == "local" and r["n_test"] == 4 and 0 <= r["i_auroc"] <= 1
    train = {load_image(p).tobytes() for p in sorted((root / "train/good").iterdir())}
    assert seen and set(seen[0]) <= train  # only train/good images were trained on
    # the schedule can be chosen, for comparing single-stage, two-stage and reverse runs
    out = evaluation.evaluate(tmp_path / "data", "local", settings=dict(TINY), stages=("diffusion", "rules"))
    assert schedules == [("rules",), ("diffusion", "rules")] and out["stages"] == ["diffusion", "rules"]
    with pytest.raises(InspectorError, match="--stages is for --engine local"):
        evaluation.evaluate(tmp_path / "data", "standalone", stages=("rules",))


def test_the_high_quality_stage_uses_the_products_accepted_sets(ws, tmp_path, monkeypatch):
    from inspector.services import synthetic, training
    from inspector.services.references import list_references

    make_product(ws, tmp_path)
    made = list(synthetic.generate_set(ws, "washer", "spots", synthetic.RunSettings(count=6, kind="poisson", filter=False)))
    assert all(isinstance(m, synthetic.SampleInfo) for m in made)
    cfg = tiny()
    cfg.stages = ("rules", "diffusion")
    # a rule-based set is not high quality: the stage keeps its stand-in
    assert training.high_quality_samples(ws, "washer") == []
    det = training.train_product(ws, "washer", cfg)
    assert det.training_set["diffusion_proxy"]
    # counted as a high-quality method, the set's accepted samples are trained on, each tied to
    # the reference it was made from (those of the held-back reference left out)
    monkeypatch.setattr(training, "HIGH_QUALITY_METHODS", ("rules",))
    stored = training.high_quality_samples(ws, "washer")
    shas = [r.sha256 for r in list_references(ws, "washer")]
    assert len(stored) == 6 and all(shas[j] == m.recipe["reference"] for (_, _, j), m in zip(stored, made))
    det = training.train_product(ws, "washer", cfg)
    held = sum(j == 2 for _, _, j in stored)  # reference 2 is held back for validation (of 5)
    assert det.training_set["stages"][1] == {"stage": "diffusion", "synthetic_samples": 6 - held}
    assert "diffusion_proxy" not in det.training_set
    # the engineer can leave the sets out
    det = training.train_product(ws, "washer", cfg, use_sets=False)
    assert det.training_set["diffusion_proxy"]
