"""Train the refinement head with Hugging Face accelerate (devices, bf16, checkpoints, processes).

accelerate owns the plumbing: device placement, mixed precision, distributed data sharding
(`accelerate launch` / `torchrun` run this same code on N processes) and the checkpoint state.
This module only decides what a step is: the samples of a stage, the loss, the schedule.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..core.errors import Cancelled, InspectorError
from ..core.progress import CancelFn
from . import checkpoints
from .data import (MIN_STRENGTH, DefectStream, FoldScorers, IndexRange, Stored, faded, fit_fold_scorers, head_input,
                   split_references, target_map, usable_synthetic)
from .families import DIFFUSION_PROXY, FAMILIES, validation_kinds
from .config_base import StagedConfig
from .losses import BETA, OMEGA, total_loss
from .steps import is_out_of_memory, lower_batch, optimise, restore_run, set_cosine_lr

UNTRAINED_FILE = "untrained.safetensors"  # epoch 0's weights (rank like the engine), in every checkpoint
IMAGE_MARGIN = 0.01  # validation I-AUROC gain over the engine needed to keep the learned image pooling
# The weights kept are the mean of the last epochs' (stochastic weight averaging): validation on
# rule defects flattens after an epoch or two, so picking its best epoch picks noise.
AVERAGED_SHARE = 0.5


@dataclass
class TrainConfig(StagedConfig):
    epochs: int = 6
    samples_per_epoch: int = 160  # of the many-sample (rule-based) stage; the other stage gets half
    batch_size: int = 8
    lr: float = 3e-3  # Adam; cosine-annealed within each stage (a head of ~2k weights)
    finetune_lr_factor: float = 0.3  # the second stage fine-tunes
    second_stage_share: float = 0.34  # share of the epochs given to the high-quality stage
    stages: tuple[str, ...] = ("rules",)  # ("rules",), ("rules", "diffusion"), ("diffusion", "rules"), ...
    omega: float = OMEGA
    beta: float = BETA
    width: int = 8  # hidden channels of the head
    defect_fraction: float = 0.5
    val_defects_per_ref: int = 3  # one of each held-out kind in turn
    seed: int = 0
    device: str = "cpu"
    mixed_precision: str = "auto"  # auto: bf16 on CUDA, none on CPU
    threads: int = 1  # torch threads on CPU: 1 is fastest on a small shared CPU

    POSITIVE = ("epochs", "samples_per_epoch", "batch_size", "width")


@dataclass
class Epoch:
    stage: str  # "rules" | "diffusion"
    family: str  # key of FAMILIES that serves it
    index_in_stage: int
    samples: int
    lr_factor: float


def plan_epochs(cfg: TrainConfig) -> list[Epoch]:
    """Epochs in order. The rule-based stage has many samples per epoch, the high-quality stage
    half as many (seed 004); whichever comes second fine-tunes at a lower learning rate."""
    if len(cfg.stages) == 1:
        counts = [cfg.epochs]
    else:  # the high-quality stage gets the smaller share of epochs, in either order
        few = max(1, round(cfg.epochs * cfg.second_stage_share))
        counts = [few if s == "diffusion" else cfg.epochs - few for s in cfg.stages]
    out = []
    for k, (stage, n) in enumerate(zip(cfg.stages, counts)):
        family = "rules" if stage == "rules" else DIFFUSION_PROXY
        samples = cfg.samples_per_epoch if stage == "rules" else max(1, cfg.samples_per_epoch // 2)
        out += [Epoch(stage, family, e, samples, 1.0 if k == 0 else cfg.finetune_lr_factor) for e in range(n)]
    return out


@dataclass
class TrainProgress:
    epoch: int  # 1-based
    epochs: int
    step: int  # optimizer steps so far (all epochs)
    samples: int  # samples seen so far
    total_samples: int
    loss: float
    samples_per_s: float
    seconds_left: float
    stage: str
    message: str = ""
    validation: Optional[dict] = None  # set at the end of an epoch


@dataclass
class TrainResult:
    state_dict: dict
    norm: list  # per input channel (median, 99.9 % quantile) of good patches
    work_hw: tuple[int, int]
    n_in: int  # head input channels
    config: TrainConfig
    history: list[dict] = field(default_factory=list)  # per epoch: loss, validation metrics
    validation: dict = field(default_factory=dict)  # final: {"local": {...}, "standalone": {...}}
    scorers: Optional[FoldScorers] = None
    data: dict = field(default_factory=dict)  # what it was trained and validated on
    examples: dict = field(default_factory=dict)  # a few validation images with both maps


@dataclass
class Validation:
    inputs: Any  # tensor (N, C, h, w)
    images: np.ndarray  # uint8 (N, h, w, 3): the images at grid size, for the examples
    masks: list[np.ndarray]  # bool (h, w)
    labels: np.ndarray
    baseline_scores: np.ndarray  # standalone: map maximum
    baseline_maps: list[np.ndarray]
    real: int = 0  # how many are real defects (flagged "missed defect")


def build_validation(references: Sequence[np.ndarray], val_idx: Sequence[int], scorers: FoldScorers,
                     cfg: TrainConfig, real_defects: Sequence[np.ndarray] = (), proxy_trained: bool = True) -> Validation:
    """Held-back references, good and with defects of every kind no stage trains on (in turn, so
    early stopping follows several unseen kinds, not one), plus real defect images (image-level
    only: their masks are unknown)."""
    import cv2
    import torch

    from ..generate.masks import foreground_mask
    from ..generate.rules import make_defect

    hw = scorers.hw
    kinds = validation_kinds(cfg.stages, proxy_trained)
    rng = np.random.default_rng([cfg.seed, 99])
    made = 0
    items: list[tuple[np.ndarray, np.ndarray, float]] = []
    for j in val_idx:
        ref = references[j]
        items.append((ref, np.zeros(ref.shape[:2], bool), 0.0))
        fg = foreground_mask(ref)
        for _ in range(cfg.val_defects_per_ref):
            kind, made = kinds[made % len(kinds)], made + 1
            img, mask, _ = make_defect(ref, rng, kind=kind, foreground=fg, scale=float(rng.uniform(0.6, 1.4)))
            items.append((*faded(ref, img, mask, float(rng.uniform(MIN_STRENGTH, 1.0))), 1.0))
    for img in real_defects:
        items.append((img, None, 1.0))
    inputs, images, masks, labels, bscores, bmaps = [], [], [], [], [], []
    for img, mask, label in items:
        score, raw, ev = scorers.evidence(None, img)
        inputs.append(head_input(raw, ev, score, scorers.norm, hw))
        images.append(cv2.resize(img, (hw[1], hw[0]), interpolation=cv2.INTER_AREA))
        masks.append(None if mask is None else _grid_mask(target_map(mask, hw)[0]))
        labels.append(label)
        bscores.append(float(score))
        bmaps.append(cv2.resize(raw.astype(np.float32), (hw[1], hw[0]), interpolation=cv2.INTER_AREA))
    return Validation(torch.from_numpy(np.stack(inputs)), np.stack(images), masks, np.array(labels),
                      np.array(bscores), bmaps, real=len(real_defects))


def _grid_mask(cover: np.ndarray) -> np.ndarray:
    """Grid cells that count as defect: at least half covered, or, for a defect smaller than half a
    cell, its best-covered cells (so a small defect is never lost from pixel validation)."""
    return cover >= min(0.5, float(cover.max())) if cover.max() > 0 else cover > 0


def validation_metrics(val: Validation, scores: np.ndarray, maps: Sequence[np.ndarray]) -> dict:
    """I-AUROC on every image; P-AUROC and PRO on those with a known mask."""
    from ..core import metrics

    known = [i for i, m in enumerate(val.masks) if m is not None]
    pix = metrics.summarize(val.labels[known], np.asarray(scores)[known], [val.masks[i] for i in known],
                            [maps[i] for i in known])
    return {"i_auroc": metrics.roc_auc(val.labels, scores), "p_auroc": float(pix["p_auroc"]),
            "pro": float(pix["pro"]), "n": int(len(val.labels)), "n_defective": int(val.labels.sum())}


def run_head(head: Any, inputs: Any, batch: int = 16) -> tuple[np.ndarray, list[np.ndarray]]:
    """Image scores and pixel logit maps of `inputs`; out of memory halves the batch."""
    import torch

    scores, maps = [], []
    head.eval()
    try:
        with torch.no_grad():
            k = 0
            while k < len(inputs):
                try:
                    s, m = head(inputs[k:k + batch].to(next(head.parameters()).device))
                except Exception as exc:
                    if not is_out_of_memory(exc) or batch == 1:
                        raise
                    batch //= 2
                    continue
                scores += s.float().cpu().tolist()
                maps += list(m.float().cpu().numpy())
                k += batch
    except Exception as exc:
        if is_out_of_memory(exc):
            raise InspectorError("out of GPU memory even with batch size 1 — train with --device cpu, "
                                 "or close other programs using the GPU") from None
        raise
    finally:
        head.train()
    return np.array(scores), maps


def averaged_epochs(n_epochs: int) -> tuple[int, int]:
    """(first, last) 1-based epochs whose end-of-epoch weights are averaged: the last half."""
    return n_epochs - max(1, round(n_epochs * AVERAGED_SHARE)) + 1, n_epochs


def selection_score(m: dict) -> float:
    """One number to compare weights on validation: the mean of I-AUROC, P-AUROC and PRO."""
    vals = [m[k] for k in ("i_auroc", "p_auroc", "pro") if m.get(k) is not None and m[k] == m[k]]
    return float(np.mean(vals)) if vals else float("-inf")


def train_head(references: Sequence[np.ndarray], cfg: TrainConfig, run_dir: Path,
               settings: Optional[dict] = None, progress: Optional[Callable[[TrainProgress], None]] = None,
               cancel: Optional[CancelFn] = None, resume: bool = False,
               real_defects: Sequence[np.ndarray] = (), synthetic: Sequence[Stored] = (),
               status: Optional[Callable[[str], None]] = None) -> TrainResult:
    """Train a head on rule-based defects of `references`; checkpoints under run_dir/checkpoints.
    `synthetic`: accepted high-quality samples (image path, mask path, index of the reference it
    was made from) for the `diffusion` stage; without them a rule family stands in.

    Cancel saves a checkpoint first and raises Cancelled; `resume` continues from the last
    checkpoint and reaches the weights an uninterrupted run reaches.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from torch.optim.swa_utils import AveragedModel

    from .head import build_head

    cfg.check()
    say = status or (lambda _m: None)
    run_dir = Path(run_dir)
    ckpt_root = run_dir / "checkpoints"
    start = None
    if resume:
        last = checkpoints.latest(ckpt_root)
        if last is None:
            raise InspectorError(f"nothing to resume: no checkpoint in {ckpt_root} — train without --resume")
        start = checkpoints.verify(last)
        if start.get("config") != cfg.to_json():
            changed = sorted(k for k, v in cfg.to_json().items() if start.get("config", {}).get(k) != v)
            raise InspectorError(f"the checkpoint in {last} was made with other settings ({', '.join(changed)}) "
                                 "— resume with the same settings or train again without --resume")
    train_idx, val_idx = split_references(len(references))
    stored = usable_synthetic(synthetic, val_idx) if "diffusion" in cfg.stages else []
    if cfg.threads and cfg.device == "cpu":
        torch.set_num_threads(cfg.threads)
    say("fitting the standalone engine on folds of the references")
    scorers = fit_fold_scorers(references, train_idx, settings, cancel=cancel,
                               progress=lambda d, t, m: say(m))
    hw = scorers.hw
    say("building the validation set")
    val = build_validation(references, val_idx, scorers, cfg, real_defects, proxy_trained=not stored)
    mp = cfg.mixed_precision if cfg.mixed_precision != "auto" else ("bf16" if cfg.device == "cuda" else "no")
    accelerator = Accelerator(cpu=cfg.device == "cpu", mixed_precision=mp, project_dir=str(run_dir))
    set_seed(cfg.seed)
    n_in = int(val.inputs.shape[1])
    head = build_head(n_in, cfg.width)
    optimizer = torch.optim.Adam(head.parameters(), lr=cfg.lr)
    head, optimizer = accelerator.prepare(head, optimizer)
    average = AveragedModel(accelerator.unwrap_model(head), device="cpu")
    accelerator.register_for_checkpointing(average)  # saved and restored with every checkpoint
    epochs = plan_epochs(cfg)
    avg_first, avg_last = averaged_epochs(len(epochs))
    total = sum(e.samples for e in epochs)
    history: list[dict] = []
    first_epoch, done_in_epoch, batch, step = 0, 0, cfg.batch_size, 0
    if start is not None:
        first_epoch, done_in_epoch, batch, step, history = restore_run(accelerator, last, start)
    def cpu_state() -> dict:
        return {k: v.detach().float().cpu().clone() for k, v in accelerator.unwrap_model(head).state_dict().items()}

    # Epoch 0 is the untrained head, which ranks like the engine: the averaged weights are kept
    # only if they validate better, so a detector is never worse than the engine on validation.
    untrained: dict = {"score": float("-inf")}
    untrained_state: dict = {}
    if start is not None:
        untrained = dict(start.get("untrained", untrained))
        if (last / UNTRAINED_FILE).is_file():
            from safetensors.torch import load_file

            untrained_state = load_file(str(last / UNTRAINED_FILE))
    else:
        s0, m0 = run_head(accelerator.unwrap_model(head), val.inputs, 16)
        m0 = validation_metrics(val, s0, m0)
        untrained = {"score": selection_score(m0), "floor_i_auroc": m0["i_auroc"]}
        untrained_state = cpu_state()
    streams = {name: DefectStream(references, train_idx, scorers, FAMILIES[name], cfg.seed, stream=k,
                                  synthetic=stored if name == DIFFUSION_PROXY else ())
               for k, name in enumerate(FAMILIES)}
    seen = sum(e.samples for e in epochs[:first_epoch]) + done_in_epoch
    t_start, seen_at_start = time.perf_counter(), seen

    def stage_note(stage: str) -> dict:
        if stage == "diffusion" and stored:
            return {"stage": stage, "synthetic_samples": len(stored)}
        family = "rules" if stage == "rules" else DIFFUSION_PROXY
        return {"stage": stage, "family": family, "kinds": list(FAMILIES[family])}

    data_note = {"train_references": len(train_idx), "validation_references": len(val_idx),
                 "validation_defects": list(validation_kinds(cfg.stages, not stored)), "real_defects": val.real,
                 "stages": [stage_note(s) for s in cfg.stages]}
    if "diffusion" in cfg.stages and not stored:
        say(f"stage 'diffusion': no accepted high-quality synthetic set, rule family {FAMILIES[DIFFUSION_PROXY]} "
            "stands in")
        data_note["diffusion_proxy"] = True

    def save(epoch_i: int, done: int) -> None:
        from safetensors.torch import save_file

        checkpoints.save(accelerator, ckpt_root, epoch_i, done,
                         {"batch_size": batch, "step": step, "history": history, "config": cfg.to_json(),
                          "untrained": untrained},
                         lambda folder: save_file(untrained_state, str(folder / UNTRAINED_FILE)))

    loss_value = float("nan")
    for ei in range(first_epoch, len(epochs)):
        ep = epochs[ei]
        stream = streams[ep.family]
        offset = ep.index_in_stage * ep.samples
        done = done_in_epoch if ei == first_epoch else 0
        losses: list[float] = []
        while done < ep.samples:
            loader = accelerator.prepare(torch.utils.data.DataLoader(
                IndexRange(stream, offset + done, offset + ep.samples), batch_size=batch, shuffle=False))
            try:
                for x, y, label in loader:
                    if cancel is not None and cancel():
                        save(ei, done)
                        raise Cancelled("training cancelled; resume it with --resume (or Resume in the Training tab)")
                    n_step = len(x) * accelerator.num_processes
                    set_cosine_lr(optimizer, cfg.lr, ep, epochs, done + n_step)

                    def loss_terms() -> dict:
                        img_logit, pix_logit = head(x)
                        return total_loss(img_logit.float(), label, pix_logit.float(), y[:, 0], cfg.omega, cfg.beta)

                    loss_value = optimise(accelerator, optimizer, loss_terms)
                    step += 1
                    done += n_step
                    seen += n_step
                    losses.append(loss_value)
                    rate = (seen - seen_at_start) / max(time.perf_counter() - t_start, 1e-6)
                    if progress is not None:
                        progress(TrainProgress(ei + 1, len(epochs), step, seen, total, loss_value, rate,
                                               (total - seen) / max(rate, 1e-9), ep.stage))
            except Exception as exc:  # noqa: BLE001 - out of memory halves the batch, the rest is raised
                batch = lower_batch(exc, optimizer, cfg.device, batch, say)
        scores, maps = run_head(accelerator.unwrap_model(head), val.inputs, max(batch, 16))
        metrics = validation_metrics(val, scores, maps)
        history.append({"epoch": ei + 1, "stage": ep.stage, "loss": float(np.mean(losses)) if losses else loss_value,
                        "batch_size": batch, **{f"val_{k}": v for k, v in metrics.items()}})
        if ei + 1 >= avg_first:
            average.update_parameters(accelerator.unwrap_model(head))
        save(ei + 1, 0)
        if progress is not None:
            rate = (seen - seen_at_start) / max(time.perf_counter() - t_start, 1e-6)
            progress(TrainProgress(ei + 1, len(epochs), step, seen, total, history[-1]["loss"], rate,
                                   (total - seen) / max(rate, 1e-9), ep.stage, "validated", metrics))
    model = accelerator.unwrap_model(head)
    model.load_state_dict(average.module.state_dict())
    scores, maps = run_head(model, val.inputs)
    metrics = validation_metrics(val, scores, maps)
    # The pixel map does not depend on the image pooling. The learned pooling counts only where it
    # ranks validation images clearly better than the engine's score (a few held-back good images
    # cannot tell a small gain from noise); otherwise it is reset: the engine's ranking exactly.
    floor = untrained.get("floor_i_auroc", float("nan"))
    learned = bool(metrics["i_auroc"] >= floor + IMAGE_MARGIN)
    effective = dict(metrics) if learned else {**metrics, "i_auroc": floor}
    averaged = selection_score(effective) > untrained["score"]
    if not averaged:
        model.load_state_dict(untrained_state)
        learned = False
    if not learned:
        with torch.no_grad():
            model.pool.weight.zero_()
            model.pool.bias.zero_()
    data_note["averaged_epochs"] = [avg_first, avg_last] if averaged else []
    data_note["kept"] = (f"the average of epochs {avg_first}-{avg_last}" if avg_first < avg_last
                         else f"epoch {avg_last}") if averaged else "the untrained head"
    data_note["image_score"] = "learned" if learned else "engine"
    scores, maps = run_head(model, val.inputs)
    final = {"local": validation_metrics(val, scores, maps),
             "standalone": validation_metrics(val, val.baseline_scores, val.baseline_maps)}
    state = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}
    result = TrainResult(state, scorers.norm, hw, n_in, cfg, history, final, scorers, data_note)
    result.examples = _examples(val, maps)
    return result


def _examples(val: Validation, maps: Sequence[np.ndarray], n: int = 3) -> dict[str, np.ndarray]:
    """A few defective validation images with both maps, for the side-by-side view."""
    idx = [i for i, m in enumerate(val.masks) if m is not None and val.labels[i] == 1][:n]
    if not idx:
        return {}
    return {"image": val.images[idx],
            "standalone": np.stack([val.baseline_maps[i] for i in idx]).astype(np.float32),
            "local": np.stack([maps[i] for i in idx]).astype(np.float32),
            "mask": np.stack([val.masks[i] for i in idx])}

