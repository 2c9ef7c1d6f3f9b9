"""Training runs on tiny images: loss falls, resume is exact, cancel/corrupt/OOM/too-few refs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from inspector.core.errors import Cancelled, InspectorError
from inspector.generate.procedural import render_good
from inspector.train import checkpoints
from inspector.train.families import validation_kinds
from inspector.train.loop import TrainConfig, plan_epochs, train_head

SETTINGS = {"resolution": 64, "memory_size": 256, "max_candidates": 4096}


@pytest.fixture(scope="module")
def refs():
    return [render_good("washer", np.random.default_rng(i), 48) for i in range(5)]


def tiny(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "samples_per_epoch": 12, "batch_size": 4, "width": 4,
                          "val_defects_per_ref": 2, **kw})


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_loss_falls_and_validation_is_recorded(refs, tmp_path):
    seen = []
    r = train_head(refs, tiny(epochs=4, samples_per_epoch=16, lr=3e-3), tmp_path, SETTINGS,
                   progress=seen.append)
    assert [h["epoch"] for h in r.history] == [1, 2, 3, 4]
    assert r.history[-1]["loss"] < r.history[0]["loss"]
    assert {"i_auroc", "p_auroc", "pro"} <= set(r.validation["local"]) and "standalone" in r.validation
    steps = [p for p in seen if p.validation is None]
    assert steps[-1].samples == 64 and steps[-1].seconds_left == pytest.approx(0, abs=1e-6)
    assert all(p.samples_per_s > 0 for p in steps)
    # every kind no stage trains on, and none that one does
    assert r.data["validation_defects"] == ["colour_spot", "cutpaste", "crack", "dent", "missing"]
    assert validation_kinds(("rules", "diffusion")) == ("crack", "dent", "missing")


def test_resume_after_cancel_reaches_the_uninterrupted_weights(refs, tmp_path):
    straight = train_head(refs, tiny(), tmp_path / "a", SETTINGS)
    steps = []

    with pytest.raises(Cancelled):  # stop in the second epoch, after its first step
        train_head(refs, tiny(), tmp_path / "b", SETTINGS, progress=steps.append,
                   cancel=lambda: len(steps) >= 5)
    last = checkpoints.latest(tmp_path / "b" / "checkpoints")
    assert last is not None and checkpoints.verify(last)["epoch"] == 1  # usable, mid second epoch
    resumed = train_head(refs, tiny(), tmp_path / "b", SETTINGS, resume=True)
    assert same_weights(straight.state_dict, resumed.state_dict)
    other = train_head(refs, tiny(seed=1), tmp_path / "c", SETTINGS)
    assert not same_weights(straight.state_dict, other.state_dict)  # the seed matters


def cancel_after_first_step(refs, folder):
    steps = []
    with pytest.raises(Cancelled):
        train_head(refs, tiny(), folder, SETTINGS, progress=steps.append, cancel=lambda: bool(steps))


def test_corrupt_checkpoint_is_refused(refs, tmp_path):
    cancel_after_first_step(refs, tmp_path)
    last = checkpoints.latest(tmp_path / "checkpoints")
    weights = next(p for p in last.iterdir() if p.suffix == ".safetensors")
    weights.write_bytes(b"\0" * 64)
    with pytest.raises(InspectorError, match="corrupt.*does not match"):
        train_head(refs, tiny(), tmp_path, SETTINGS, resume=True)
    cancel_after_first_step(refs, tmp_path / "y")
    with pytest.raises(InspectorError, match="other settings \\(epochs\\)"):
        train_head(refs, tiny(epochs=3), tmp_path / "y", SETTINGS, resume=True)


def test_out_of_memory_lowers_the_batch_and_goes_on(refs, tmp_path, monkeypatch):
    from inspector.train import head as head_mod

    real = head_mod.build_head

    def fragile(n_in, width):
        h = real(n_in, width)
        forward = h.forward

        def guarded(x):
            if x.shape[0] > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return forward(x)
        h.forward = guarded
        return h

    monkeypatch.setattr(head_mod, "build_head", fragile)
    notes = []
    r = train_head(refs, tiny(), tmp_path, SETTINGS, status=notes.append)
    assert [h["batch_size"] for h in r.history] == [2, 2]
    assert any("batch size lowered to 2" in n for n in notes)


def test_out_of_memory_at_batch_one_stops_with_a_message(refs, tmp_path, monkeypatch):
    from inspector.train import head as head_mod

    real = head_mod.build_head

    def broken(n_in, width):
        h = real(n_in, width)

        def oom(x):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        h.forward = oom
        return h

    monkeypatch.setattr(head_mod, "build_head", broken)
    with pytest.raises(InspectorError, match="out of GPU memory even with batch size 1"):
        train_head(refs, tiny(), tmp_path, SETTINGS)


def test_too_few_references_says_how_many(refs, tmp_path):
    with pytest.raises(InspectorError, match="at least 4 good reference.*has 3.*add 1 more"):
        train_head(refs[:3], tiny(), tmp_path, SETTINGS)


def test_two_stage_plans():
    one = plan_epochs(TrainConfig(epochs=6, samples_per_epoch=100, stages=("rules",)))
    assert [e.stage for e in one] == ["rules"] * 6
    two = plan_epochs(TrainConfig(epochs=6, samples_per_epoch=100, stages=("rules", "diffusion")))
    assert [e.stage for e in two] == ["rules"] * 4 + ["diffusion"] * 2
    assert [e.samples for e in two] == [100] * 4 + [50] * 2  # fewer high-quality samples
    assert [e.lr_factor for e in two][-1] < 1.0 and two[-1].family == "rules_b"
    rev = plan_epochs(TrainConfig(epochs=6, samples_per_epoch=100, stages=("diffusion", "rules")))
    assert [e.stage for e in rev] == ["diffusion"] * 2 + ["rules"] * 4
    with pytest.raises(InspectorError, match="stages"):
        TrainConfig(stages=("rules", "rules")).check()


def test_the_kept_weights_are_the_later_epochs_average_if_it_validates_better(refs, tmp_path, monkeypatch):
    from inspector.train import loop

    def run(figures, epochs=2):
        it = iter(figures)

        def fake(val, scores, maps):
            i, p = next(it)
            return {"i_auroc": i, "p_auroc": p, "pro": p, "n": 1, "n_defective": 1}

        monkeypatch.setattr(loop, "validation_metrics", fake)
        return train_head(refs, tiny(epochs=epochs), tmp_path / str(len(list(tmp_path.iterdir()))), SETTINGS)

    assert loop.averaged_epochs(6) == (4, 6) and loop.averaged_epochs(2) == (2, 2) and loop.averaged_epochs(1) == (1, 1)
    # (I-AUROC, P-AUROC = PRO) of epoch 0 (untrained), the epochs, the average, then the final figures
    # of both engines. The average's pixels validate better, its image pooling worse than the
    # engine's: it is kept with the engine's image score (its ranking exactly).
    r = run([(0.9, 0.5), (0.8, 0.99), (0.95, 0.6), (0.8, 0.9), (0.9, 0.9), (0.9, 0.5)])
    assert r.data["kept"] == "epoch 2" and r.data["averaged_epochs"] == [2, 2] and r.data["image_score"] == "engine"
    assert not r.state_dict["pool.weight"].any() and not r.state_dict["pool.bias"].any()
    assert r.state_dict["out.weight"].any()  # trained
    # a clear image-level gain (>= IMAGE_MARGIN) keeps the learned pooling
    r = run([(0.9, 0.5), (0.8, 0.6), (0.95, 0.9), (0.95, 0.9), (0.95, 0.9), (0.9, 0.5)])
    assert r.data["image_score"] == "learned" and r.state_dict["pool.weight"].any()
    # an average that validates worse than the engine: the untrained head (ranks like the engine)
    r = run([(0.9, 0.7), (0.9, 0.9), (0.9, 0.9), (0.9, 0.6), (0.9, 0.7), (0.9, 0.7)])
    assert r.data["kept"] == "the untrained head" and r.data["averaged_epochs"] == []
    assert not r.state_dict["out.weight"].any() and not r.state_dict["pool.weight"].any()
    # four epochs: the mean of epochs 3 and 4
    r = run([(0.9, 0.5)] + [(0.9, 0.6)] * 4 + [(0.9, 0.9), (0.9, 0.9), (0.9, 0.5)], epochs=4)
    assert r.data["kept"] == "the average of epochs 3-4"
    from safetensors.torch import load_file

    run_dir = tmp_path / str(len(list(tmp_path.iterdir())) - 1) / "checkpoints"
    ends = [load_file(str(run_dir / f"ckpt_000{e}_0000000" / "model.safetensors")) for e in (3, 4)]
    for key in ("mix.weight", "spatial.weight", "out.weight", "map_gain"):
        assert torch.allclose(r.state_dict[key], (ends[0][key] + ends[1][key]) / 2, atol=1e-6), key


def stored_samples(refs, folder, made_from):
    """Synthetic samples on disk as the Generator stores them: a dark blob on a reference, with a
    soft (grey-level) mask; one per reference index in `made_from`."""
    import cv2

    from inspector.core.image_io import encode_png

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k, j in enumerate(made_from):
        img, mask = refs[j].copy(), np.zeros(refs[j].shape[:2], np.uint8)
        cv2.circle(mask, (20 + k, 24), 6, 255, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 1.5)  # soft edge, like a CUT attention map
        img[mask > 128] = (20, 20, 20)
        (folder / f"s{k}.png").write_bytes(encode_png(img))
        (folder / f"s{k}_mask.png").write_bytes(encode_png(mask))
        out.append((folder / f"s{k}.png", folder / f"s{k}_mask.png", j))
    return out


def test_the_diffusion_stage_trains_on_stored_synthetic_samples(refs, tmp_path):
    from inspector.core.image_io import load_image
    from inspector.train.data import DefectStream, fit_fold_scorers, split_references

    train_idx, val_idx = split_references(len(refs))
    stored = stored_samples(refs, tmp_path / "set", [0, 1, val_idx[0], 3])
    r = train_head(refs, tiny(stages=("rules", "diffusion")), tmp_path / "run", SETTINGS, synthetic=stored)
    # the sample made from the held-back reference is left out; the proxy family goes to validation
    assert r.data["stages"][1] == {"stage": "diffusion", "synthetic_samples": 3}
    assert "diffusion_proxy" not in r.data
    assert {"colour_spot", "cutpaste"} <= set(r.data["validation_defects"])
    # a defective draw is the stored image with its soft mask, scored out of fold
    scorers = fit_fold_scorers(refs, train_idx, SETTINGS)
    stream = DefectStream(refs, train_idx, scorers, ("hole",), 0, stream=1, defect_fraction=1.0,
                          synthetic=stored[:1])
    image, mask, (score, raw, ev), label = stream.sample(0)
    assert label == 1.0 and np.array_equal(image, load_image(stored[0][0]))
    assert mask.max() > 0.9 and ((mask > 0.05) & (mask < 0.95)).any()  # grey levels kept
    assert score == pytest.approx(scorers.models[scorers.fold_of[0]].evidence(image)[0])
    # without stored samples the stage says a rule family stood in
    r = train_head(refs, tiny(stages=("rules", "diffusion")), tmp_path / "run2", SETTINGS)
    assert r.data["diffusion_proxy"] and r.data["stages"][1]["family"] == "rules_b"


def test_faded_defects_keep_a_share_of_their_contrast_and_only_the_pixels_still_changed():
    from inspector.train.data import faded

    image = np.full((20, 20, 3), 100, np.uint8)
    made = image.copy()
    made[5:10, 5:10] = 200  # strong core
    made[12:15, 12:15] = 104  # faint rim: 4 grey levels
    mask = np.zeros((20, 20), bool)
    mask[5:10, 5:10] = mask[12:15, 12:15] = True
    out, still = faded(image, made, mask, 0.5)
    assert out[7, 7, 0] == 150 and out[13, 13, 0] == 102 and out[0, 0, 0] == 100
    assert still[5:10, 5:10].all() and not still[12:15, 12:15].any()  # 2 levels: no longer a change
    same, same_mask = faded(image, made, mask, 1.0)
    assert same is made and same_mask is mask
    gone = np.zeros_like(mask)
    gone[12:15, 12:15] = True
    back, back_mask = faded(image, made, gone, 0.3)  # nothing left visible: the defect at full strength
    assert back is made and back_mask is gone
