"""IAP-AS end to end with tiny random Grounding DINO and SAM in their real on-disk formats.

The models sit in a models folder described by a manifest, so the engine loads them through
`inspector.weights.loaders` exactly as it loads the released weights. Random weights make
the boxes meaningless; the tests check what the pipeline does with whatever boxes come out.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("segment_anything")

from iapas_fixtures import GDINO_ID, SAM_ID, TEXT_LEN, build_iapas_models  # noqa: E402

from inspector.core.errors import Cancelled, EngineUnavailable, InspectorError  # noqa: E402
from inspector.engines.iapas import IapasModel, availability, requirements  # noqa: E402
from inspector.engines.iapas.detect import caption_of, token_count  # noqa: E402
from inspector.engines.iapas.verdict import (DROPPED_PREFIX, UNCALIBRATED, IapasDetector,  # noqa: E402
                                             default_calibration, finish_calibration)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_iapas_models(tmp_path_factory.mktemp("iapas"))


@pytest.fixture
def env(tiny, monkeypatch):
    monkeypatch.setenv("INSPECTOR_MANIFEST", str(tiny.manifest))
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(tiny.models_dir))
    return tiny


def settings(**kw):
    return {"detector_id": GDINO_ID, "sam_id": SAM_ID, "object_name": "bottle",
            "tags": {"material": "metal"}, "llm": "", "work_size": 96, **kw}


def noise(seed: int, shape=(80, 120)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def fitted(refs=(), **kw) -> IapasModel:
    model = IapasModel(settings(**kw))
    model.fit(list(refs))
    return model


def check_outcome(model: IapasModel, o, shape) -> None:
    """What must hold for any boxes: map, score, masks and every decision agree."""
    c = model.config
    assert o.anomaly_map.shape == shape and o.anomaly_map.dtype == np.float32
    assert np.isfinite(o.anomaly_map).all() and o.anomaly_map.min() >= 0
    assert o.score == pytest.approx(float(o.anomaly_map.max()))
    kept = o.kept
    assert len(kept) <= c.top_k and len(o.masks) == len(kept)
    assert all(d.box.score > c.box_threshold for d in o.decisions)
    for d in o.decisions:
        x0, y0, x1, y1 = d.box.xyxy
        assert 0 <= x0 <= x1 <= shape[1] and 0 <= y0 <= y1 <= shape[0]
        limit = c.max_box_ratio * o.object_area
        if d.reason.startswith("larger than"):
            assert d.box.area > limit * (1 - 1e-6)
        if d.kept:
            assert d.reason == "" and d.box.area <= limit * (1 + 1e-6)
    if kept:
        assert o.score <= max(d.box.score for d in kept) + 1e-6
    else:
        assert o.score == 0.0 and not o.anomaly_map.any()
    assert {"detect", "filter", "sam_embed", "sam_decode", "map"} <= set(o.timings_ms)


def test_pipeline_on_noise_boxes_filter_and_masks(env):
    model = fitted(max_box_ratio=1.0)
    o = model.score_detailed([noise(0)])[0]
    check_outcome(model, o, (80, 120))
    assert o.decisions, "the tiny random detector gives boxes at this threshold"


def test_no_boxes(env):
    model = fitted(box_threshold=0.9999999)
    o = model.score_detailed([noise(1)])[0]
    assert o.decisions == [] and o.score == 0.0 and not o.anomaly_map.any()
    assert o.timings_ms["sam_embed"] == 0.0  # SAM does not run without boxes
    det = IapasDetector(model, default_calibration(model.settings), "defect")
    r = det.predict(noise(1))
    assert r.verdict == "OK" and r.regions == [] and r.dropped == []


def test_every_box_filtered_names_the_object(env):
    model = fitted(prompts=["the bottle", "bottle surface"])
    assert model.groups == [["bottle", "the bottle", "bottle surface"]]
    o = model.score_detailed([noise(2)])[0]
    assert o.decisions and not o.kept and o.object_boxes  # boxes of the object prompt itself
    assert {d.reason for d in o.decisions} == {"names the object"}
    assert o.score == 0.0 and not o.anomaly_map.any()
    r = IapasDetector(model, default_calibration(model.settings)).predict(noise(2))
    assert r.verdict == "OK" and not r.regions
    assert len(r.dropped) == len(o.decisions)
    assert all(g.label.startswith(DROPPED_PREFIX) and g.label.endswith("names the object")
               and g.area_px == 0 for g in r.dropped)


def test_every_box_filtered_by_size_from_references(env):
    # a reference whose object box is small makes every box "larger than 5% of the object"
    model = fitted([noise(3)], max_box_ratio=0.05)
    assert model.object_fraction is not None and 0 < model.object_fraction <= 1
    o = model.score_detailed([noise(4)])[0]
    check_outcome(model, o, (80, 120))
    assert o.object_area == pytest.approx(model.object_fraction * 80 * 120)
    big = [d for d in o.decisions if d.box.area > 0.05 * o.object_area]
    assert big and not any(d.kept for d in big)
    assert all(d.reason in ("larger than 5% of the object", "names the object") for d in big)
    assert any(d.reason == "larger than 5% of the object" for d in big)


def test_overlapping_boxes_average_their_confidences(env):
    model = fitted(max_box_ratio=1.0, nms_iou=1.0, top_k=50, work_size=0)  # masks at input size
    o = model.score_detailed([noise(5)])[0]
    check_outcome(model, o, (80, 120))
    stack = np.stack(o.masks).astype(np.float32)
    conf = np.array([d.box.score for d in o.kept], np.float32)[:, None, None]
    count = stack.sum(0)
    assert (count > 1).any(), "some kept masks overlap"
    expected = np.divide((stack * conf).sum(0), count, out=np.zeros_like(count), where=count > 0)
    assert np.allclose(o.anomaly_map, expected, atol=1e-6)
    # with NMS at 0.5 no two kept boxes overlap by more than that
    from inspector.engines.iapas.filter import iou

    strict = fitted(max_box_ratio=1.0, nms_iou=0.5, top_k=50).score_detailed([noise(5)])[0]
    boxes = [d.box.xyxy for d in strict.kept]
    assert all(iou(a, b) <= 0.5 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert len(strict.kept) <= len(o.kept)


def test_prompt_list_longer_than_the_token_limit(env):
    words = ["scratch", "dent", "crack", "stain", "hole", "rust spot", "broken part", "missing part"]
    prompts = [f"{w} on the {s}" for w in words for s in ("tile", "metal surface")]
    prompts.append(" ".join(["scratch"] * 40))  # one prompt longer than a whole caption
    model = fitted(prompts=prompts, max_box_ratio=1.0)
    det = model.detector
    assert det.budget == TEXT_LEN
    assert token_count(det.tokenizer, caption_of(prompts)) > 3 * TEXT_LEN
    groups = model.groups
    assert len(groups) > 3 and all(token_count(det.tokenizer, caption_of(g)) <= TEXT_LEN for g in groups)
    flat = [p for g in groups for p in g]
    assert flat[0] == "bottle"  # the object prompt leads the first caption
    assert flat[1:-1] == prompts[:-1] and flat[-1].startswith("scratch scratch")
    o = model.score_detailed([noise(6)])[0]
    check_outcome(model, o, (80, 120))
    found = {d.box.prompt for d in o.decisions}
    assert found <= set(flat[1:]) and len({i for i, g in enumerate(groups) if found & set(g)}) > 1


def test_grey_image(env):
    model = fitted(max_box_ratio=1.0)
    grey = np.full((80, 120, 3), 128, np.uint8)  # the tiny detector needs >= 64x96 px
    o = model.score_detailed([grey])[0]
    check_outcome(model, o, (80, 120))
    r = IapasDetector(model, default_calibration(model.settings)).predict(grey)
    assert r.anomaly_map.shape == (80, 120) and r.verdict in ("OK", "NG")


def test_large_image_is_scored_at_work_size_and_mapped_back(env):
    model = fitted(max_box_ratio=1.0)
    big = np.ascontiguousarray(np.kron(noise(7, (30, 40)), np.ones((100, 100, 1), np.uint8)))
    assert big.shape == (3000, 4000, 3)
    o = model.score_detailed([big])[0]
    check_outcome(model, o, (3000, 4000))
    assert o.kept and max(d.box.xyxy[2] for d in o.decisions) > 96  # boxes in input pixels
    assert all(m.shape == (72, 96) for m in o.masks)  # SAM ran at the work size


def test_detector_result_labels_regions_with_prompts_and_times_stages(env):
    model = fitted(max_box_ratio=1.0)
    cal = default_calibration(model.settings)
    assert cal.method == UNCALIBRATED and cal.threshold == model.config.box_threshold
    image = noise(0)
    (score, _), = model.score([image])
    r = IapasDetector(model, cal, "defect").predict(image)
    assert r.engine_id == "iapas" and r.score == pytest.approx(score)
    assert r.verdict == ("NG" if score >= cal.threshold else "OK")
    assert r.verdict == "NG" and r.regions
    assert all(g.label in model.prompt_set.prompts for g in r.regions)
    assert {"iapas_detect", "iapas_sam_embed", "score", "total"} <= set(r.timings_ms)
    assert default_calibration({"default_threshold": 0.6}).threshold == 0.6


def test_calibration_from_good_images_uses_the_shared_holdout(env):
    from inspector.engines.calibrate import fit_and_calibrate

    refs = [np.full((80, 120, 3), v, np.uint8) for v in (120, 128, 136)]
    quiet = settings(box_threshold=0.9999999, size_from_references=False)
    model, cal = fit_and_calibrate(lambda: IapasModel(quiet), refs)
    assert cal.method == "holdout" and cal.good_scores == [0.0, 0.0, 0.0]
    fixed = finish_calibration(cal, settings(box_threshold=0.9999999))
    assert fixed.threshold == cal.threshold and (fixed.map_lo, fixed.map_hi) == (0.0, 0.9999999)
    assert finish_calibration(None, settings()).method == UNCALIBRATED
    good = finish_calibration(default_calibration({"default_threshold": 0.5}))
    assert (good.map_lo, good.map_hi) == (0.0, 0.5)  # a real scale is kept


def test_save_load_keeps_prompts_and_scores(env, tmp_path, tiny):
    model = fitted([noise(3)], defect_words=["dent"], llm=str(tiny.llm))
    assert "llm" in model.prompt_set.sources.values()
    before = model.score([noise(8)])
    model.save(tmp_path)
    state = json.loads((tmp_path / "iapas_state.json").read_text())
    assert state["prompt_set"]["version"] == model.prompt_set.version
    # inspecting never calls the LLM: the cached prompts load even with the LM gone
    moved = tiny.llm.with_name("llm-moved")
    tiny.llm.rename(moved)
    try:
        loaded = IapasModel.load(tmp_path, {"batch_size": 3, "llm": "", "defect_words": ["x"]})
        assert loaded.prompt_set.prompts == model.prompt_set.prompts
        assert loaded.object_fraction == model.object_fraction
        after = loaded.score([noise(8)])
    finally:
        moved.rename(tiny.llm)
    assert before[0][0] == after[0][0] and np.array_equal(before[0][1], after[0][1])
    edited = IapasModel.load(tmp_path, {"prompts": ["dent", "crack"]})
    assert edited.prompt_set.prompts == ["dent", "crack"]
    with pytest.raises(InspectorError, match="no fitted IAP-AS state"):
        IapasModel.load(tmp_path / "nothing")


def test_missing_weights_say_exactly_what_to_import(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_MANIFEST", str(tiny.manifest))
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(tmp_path / "empty"))
    status = availability(settings())
    assert not status.ok
    assert status.reason.startswith("missing Grounding DINO / SAM weights — import "
                                    f"{GDINO_ID} and {SAM_ID} with `inspector models import PATH`")
    from inspector.engines.registry import ENGINES, make_model

    with pytest.raises(EngineUnavailable, match="engine 'iapas' is not available: missing Grounding DINO"):
        make_model("iapas", settings())
    spec = ENGINES["iapas"]
    assert spec.requirements.min_references == 0 and spec.region_label == "defect"
    assert requirements().weights == ["grounding-dino-tiny", "sam-vit-b"]


def test_describe_then_segment_with_a_tiny_multimodal_model(env, tmp_path):
    from iapas_fixtures import build_multimodal

    from inspector.engines.iapas.describe import load_describer

    lmm = build_multimodal(tmp_path / "describe-lmm")
    describer = load_describer(str(lmm))
    words = describer.describe(noise(0), "bottle")
    assert words and words == describer.describe(noise(0), "bottle")  # greedy: reproducible
    model = fitted(describe="on", describe_model=str(lmm), max_box_ratio=1.0)
    o = model.score_detailed([noise(0)])[0]
    check_outcome(model, o, (80, 120))
    assert o.image_prompts == [w for w in words if w != "bottle"]
    assert {d.box.prompt for d in o.decisions} <= set(o.image_prompts)
    assert "describe" in o.timings_ms
    # off by default; on without a model folder says what to do
    assert "describe" not in fitted().score_detailed([noise(0)])[0].timings_ms
    with pytest.raises(InspectorError, match="describe is on, but .*no config.json"):
        fitted(describe="on").score([noise(0)])


def test_bench_reports_stages(env):
    from inspector.services.benchmark import run_iapas_bench

    r = run_iapas_bench(size=96, n=2, warmup=1, settings=settings(max_box_ratio=1.0))
    assert r["engine"] == "iapas" and r["refs"] == 0 and r["n"] == 2 and r["p50_ms"] > 0
    assert {"detect", "filter", "sam_embed", "sam_decode", "map", "verdict"} <= set(r["stages_p50_ms"])
    assert r["captions"] >= 1 and r["prompts"] > 0


def test_explicit_weight_paths_bypass_the_manifest(tiny, tmp_path, monkeypatch):
    from iapas_fixtures import TINY_SAM_DIMS

    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(tmp_path / "empty"))
    explicit = {"detector_folder": str(tiny.gdino), "sam_checkpoint": str(tiny.sam),
                "sam_variant": TINY_SAM_DIMS, "object_name": "tile", "llm": "", "work_size": 96}
    assert availability(explicit).ok and requirements(explicit).weights == []
    model = IapasModel(explicit)
    model.fit([])
    assert np.isfinite(model.score([noise(0)])[0][0])
    gone = {**explicit, "sam_checkpoint": str(tmp_path / "nope.pth")}
    assert not availability(gone).ok and "nope.pth" in availability(gone).reason


def test_misuse_is_reported(env):
    model = IapasModel(settings())
    with pytest.raises(InspectorError, match="not fitted"):
        model.score([noise(0)])
    model.fit([])
    with pytest.raises(InspectorError, match="uint8 RGB"):
        model.score([np.zeros((8, 8), np.uint8)])
    with pytest.raises(Cancelled):
        IapasModel(settings()).fit([noise(0), noise(1)], cancel=lambda: True)
    for bad in ({"box_threshold": 2}, {"top_k": 0}, {"work_size": 8}, {"prompts": [" "]},
                {"precision": "int8"}):
        with pytest.raises(InspectorError, match="IAP-AS setting"):
            IapasModel(settings(**bad))


def test_eval_command_runs_end_to_end_on_real_data(env, real_data, cli, tmp_path):
    """`inspector eval ROOT --engine iapas`, scores from the tiny models with no reference use."""
    code, out, err = cli("eval", real_data, "--engine", "iapas", "--category", "hazelnut_toy",
                         "--shots", "1", "--set", f"detector_id={GDINO_ID}", "--set", f"sam_id={SAM_ID}",
                         "--set", "work_size=96", "--set", "size_from_references=false",
                         "--set", "llm=", "--json", tmp_path / "iapas.json")
    assert code == 0, err
    assert "engine iapas" in out and "hazelnut_toy" in out
    r = json.loads((tmp_path / "iapas.json").read_text())["categories"]["hazelnut_toy"]
    assert len(r["images"]) == r["n_test"] > 0
    assert all(0.0 <= i["score"] <= 1.0 for i in r["images"])
    assert 0.0 <= r["p_auroc"] <= 1.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda_matches_cpu(env):
    cpu = fitted(max_box_ratio=1.0)
    gpu = IapasModel(settings(max_box_ratio=1.0), device="cuda")
    gpu.fit([])
    (s0, m0), = cpu.score([noise(0)])
    (s1, m1), = gpu.score([noise(0)])
    assert abs(s0 - s1) < 1e-3 and np.abs(m0 - m1).max() < 0.05


def test_product_with_tags_and_no_references_is_fitted_and_inspected(env, ws, tmp_path):
    """Day one: a product with a name and tags only is fitted (uncalibrated) and inspected."""
    from PIL import Image

    from inspector.services import engine_state, products
    from inspector.services.inspect import detector_for, inspect_paths

    products.create_product(ws, "bottle", tags={"object": "bottle", "material": "metal"},
                            defect_words=["scratch"], engine="iapas")
    products.update_product(ws, "bottle", engine_settings={"detector_id": GDINO_ID, "sam_id": SAM_ID,
                                                           "llm": "", "work_size": 96})
    Image.fromarray(noise(3)).save(tmp_path / "part.png")
    det, note = detector_for(ws, "bottle")
    assert "fitted 'iapas' on 0 reference(s)" in note
    assert det.calibration.method == "uncalibrated"
    assert det.model.config.tags == {"object": "bottle", "material": "metal"}  # tags reach the engine
    item, = inspect_paths(ws, "bottle", [tmp_path / "part.png"], det)
    assert item.result.engine_id == "iapas" and item.record is not None
    assert isinstance(item.result.dropped, list)
    again = engine_state.load_detector(ws, "bottle")  # the stored state loads as the same engine
    assert type(again).__name__ == "IapasDetector" and again.calibration.method == "uncalibrated"
