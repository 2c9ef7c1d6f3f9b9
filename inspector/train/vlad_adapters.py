"""Train VLAD's linear adapters (CLIP frozen) on defects made from a product's references.

Seed 001, section 4.2 and A.1: the per-stage linear adapters (optionally the normal/abnormal
prompt embeddings too) are trained with L = L_focal + ω(L_BCE + L_Dice), adapted Dice with β,
Adam 1e-4 with a cosine schedule, 512 px, batch 16. CLIP runs without gradients, so a step
costs one frozen forward plus a few linear layers. The supervised outputs are the engine's own
vision-language logits: per stage, T·(token·abnormal − token·normal) (the logit of VLAD's
softmax), upsampled to the input; the image logit is the mean of the image token's logit and
the top of the stage-averaged pixel logits, so the focal loss reaches the adapters. The
vision-vision part is not trained: it uses the same adapters through the references' memory
bank, built again at every validation and at fit time.

Plumbing as in loop.py: accelerate for devices, bf16, checkpoints and `accelerate launch`
sharding; sealed checkpoints (checkpoints.py), exact resume, cancel, out-of-memory halving,
validation per epoch on held-back references with defects of a family never trained on (plus
real flagged defects), and the best epoch kept (epoch 0 = the untrained adapters).
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
from .data import IndexRange, defect_or_good, split_references, usable_synthetic
from .families import DIFFUSION_PROXY, FAMILIES
from .config_base import StagedConfig
from .loop import TrainProgress, plan_epochs, selection_score
from .steps import lower_batch, optimise, restore_run, set_cosine_lr
from .losses import BETA, OMEGA, total_loss

BEST_FILE = "best_adapters.safetensors"
METRIC_PX = 128  # validation maps and masks are compared at this size (speed; ranks are kept)


@dataclass
class VladTrainConfig(StagedConfig):
    """Defaults from seed 001 A.1 (Adam 1e-4 cosine, 512 px, batch 16); 10 x 200 samples."""

    epochs: int = 10
    samples_per_epoch: int = 200  # of the rule-based stage; the high-quality stage gets half
    batch_size: int = 16
    lr: float = 1e-4
    finetune_lr_factor: float = 0.3  # the second stage fine-tunes
    second_stage_share: float = 0.34
    stages: tuple[str, ...] = ("rules",)
    omega: float = OMEGA
    beta: float = BETA
    image_size: int = 512  # training input side (the engine interpolates CLIP's positions)
    learn_prompts: bool = False  # also train the (2, C) normal/abnormal text embeddings
    defect_fraction: float = 0.5
    val_defects_per_ref: int = 2
    seed: int = 0
    device: str = "cpu"
    mixed_precision: str = "auto"  # auto: bf16 on CUDA, none on CPU
    threads: int = 1  # torch threads on CPU
    workers: int = 0  # DataLoader processes making defects (a GPU run wants several)

    def check(self) -> None:
        super().check()
        if not 32 <= int(self.image_size) <= 2048:
            raise InspectorError(f"training setting image_size must be 32 to 2048, not {self.image_size}")
        if self.lr <= 0 or self.omega < 0 or self.beta <= 0:
            raise InspectorError(f"training settings need lr > 0, omega >= 0, beta > 0 (got {self.lr}, "
                                 f"{self.omega}, {self.beta})")


@dataclass
class VladTrainResult:
    arrays: dict[str, np.ndarray]  # vlad/adapters.py layout
    meta: dict
    config: VladTrainConfig
    history: list[dict] = field(default_factory=list)
    validation: dict = field(default_factory=dict)  # {"vlad": untrained, "local": trained}
    data: dict = field(default_factory=dict)
    examples: dict = field(default_factory=dict)


def _square(image: np.ndarray, size: int) -> np.ndarray:
    """The model's view of an image: squashed to size x size, as ClipBackbone.preprocess does."""
    import cv2

    shrink = image.shape[0] * image.shape[1] > size * size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


class VladSamples:
    """Map-style dataset: index -> (uint8 (S, S, 3), soft target (S, S), label), a pure function
    of (seed, stream, index). Rule defects are made on the S x S references; with `synthetic`
    (image path, mask path, reference index) samples, defective draws are those stored samples instead."""

    def __init__(self, refs: Sequence[np.ndarray], foregrounds: Sequence[np.ndarray], ref_indices: Sequence[int],
                 kinds: Sequence[str], size: int, seed: int, stream: int, defect_fraction: float,
                 synthetic: Sequence[tuple[Path, Optional[Path], Optional[int]]] = ()) -> None:
        self.refs, self.fg, self.ref_indices = refs, foregrounds, list(ref_indices)
        self.kinds, self.size, self.seed, self.stream = tuple(kinds), size, seed, stream
        self.defect_fraction, self.synthetic = defect_fraction, list(synthetic)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray, float]:
        from ..core.image_io import load_image, load_soft_mask

        rng = np.random.default_rng([self.seed, self.stream, int(i)])
        j = self.ref_indices[int(rng.integers(len(self.ref_indices)))]
        if self.synthetic:
            if rng.random() < self.defect_fraction:
                img_path, mask_path = self.synthetic[int(rng.integers(len(self.synthetic)))][:2]
                return (_square(load_image(img_path), self.size), load_soft_mask(mask_path, (self.size, self.size)),
                        1.0)
            image, mask, label = defect_or_good(self.refs[j], self.fg[j], self.kinds, rng, 0.0)
        else:
            image, mask, label = defect_or_good(self.refs[j], self.fg[j], self.kinds, rng, self.defect_fraction)
        return image, mask.astype(np.float32), label

    def __getitem__(self, i: int):
        import torch

        image, target, label = self.sample(i)
        return torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(target), \
            torch.tensor(label, dtype=torch.float32)


def build_objective(adapters: Any, text_emb: Any, learn_prompts: bool, temperature: float) -> Any:
    """The trainable module: the backbone's adapters (shared, trained in place) and the text
    embeddings (a parameter when learnt). forward(image tokens, stage features) -> (image
    logit (B,), per-stage patch logits (B, K, N))."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class AdapterObjective(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.adapters = adapters
            if learn_prompts:
                self.text = nn.Parameter(text_emb.detach().clone().float())
            else:
                self.register_buffer("text", text_emb.detach().clone().float())

        def text_embeddings(self):
            return F.normalize(self.text, dim=-1)

        def forward(self, image_tok, feats):
            t = self.text_embeddings()
            delta = t[1] - t[0]  # softmax over (normal, abnormal) = sigmoid of this difference
            z = torch.stack([temperature * (F.normalize(a(f).float(), dim=-1) @ delta)
                             for a, f in zip(self.adapters, feats)], 1)
            z_img = temperature * (image_tok.float() @ delta)
            return 0.5 * (z_img + z.mean(1).amax(-1)), z

    return AdapterObjective()


def _step_loss(objective: Any, bb: Any, images: Any, targets: Any, labels: Any, cfg: VladTrainConfig) -> dict:
    import torch.nn.functional as F

    x = bb.normalise(images.to(bb.device))
    image_tok, feats = bb.frozen_features(x)
    img_logit, z = objective(image_tok, feats)
    b, k, _ = z.shape
    g, s = bb.grid, targets.shape[-1]
    pix = F.interpolate(z.reshape(b * k, 1, g, g).float(), size=(s, s), mode="bilinear", align_corners=False)[:, 0]
    y = targets.to(pix.device).repeat_interleave(k, 0)  # every stage's map is supervised
    return total_loss(img_logit.float(), labels.to(pix.device), pix, y, cfg.omega, cfg.beta)


@dataclass
class _Validation:
    images: list[np.ndarray]
    masks: list[Optional[np.ndarray]]  # bool (METRIC_PX, METRIC_PX), None for real defects
    labels: np.ndarray
    real: int = 0


def _build_validation(refs: Sequence[np.ndarray], foregrounds: Sequence[np.ndarray], val_idx: Sequence[int],
                      cfg: VladTrainConfig, real_defects: Sequence[np.ndarray]) -> _Validation:
    import cv2

    from ..generate.rules import make_defect

    rng = np.random.default_rng([cfg.seed, 99])
    images, masks, labels = [], [], []

    def small(mask: np.ndarray) -> np.ndarray:
        return cv2.resize(mask.astype(np.float32), (METRIC_PX, METRIC_PX), interpolation=cv2.INTER_AREA) >= 0.5

    for j in val_idx:
        images.append(refs[j])
        masks.append(small(np.zeros(refs[j].shape[:2], bool)))
        labels.append(0.0)
        for _ in range(cfg.val_defects_per_ref):
            kind = str(rng.choice(FAMILIES["validation"]))
            img, mask, _ = make_defect(refs[j], rng, kind=kind, foreground=foregrounds[j],
                                       scale=float(rng.uniform(0.6, 1.4)))
            images.append(img)
            masks.append(small(mask))
            labels.append(1.0)
    for img in real_defects:
        images.append(img)
        masks.append(None)
        labels.append(1.0)
    return _Validation(images, masks, np.array(labels), len(real_defects))


def _metrics(val: _Validation, scores: np.ndarray, maps: Sequence[np.ndarray]) -> dict:
    from ..core import metrics

    known = [i for i, m in enumerate(val.masks) if m is not None]
    pix = metrics.summarize(val.labels[known], np.asarray(scores)[known], [val.masks[i] for i in known],
                            [maps[i] for i in known])
    return {"i_auroc": metrics.roc_auc(val.labels, scores), "p_auroc": float(pix["p_auroc"]),
            "pro": float(pix["pro"]), "n": int(len(val.labels)), "n_defective": int(val.labels.sum())}


def _score_validation(model: Any, train_refs: Sequence[np.ndarray], val: _Validation) -> tuple[np.ndarray, list]:
    """Exactly what inspection computes: banks of the training references with the current
    adapters, then VLAD's map and score of each validation image."""
    import cv2

    model.fit(list(train_refs))
    out = model.score(val.images)
    maps = [cv2.resize(m, (METRIC_PX, METRIC_PX), interpolation=cv2.INTER_AREA) for _, m in out]
    return np.array([s for s, _ in out]), maps


def train_vlad_adapters(references: Sequence[np.ndarray], cfg: VladTrainConfig, run_dir: Path,
                        settings: Optional[dict] = None,
                        progress: Optional[Callable[[TrainProgress], None]] = None,
                        cancel: Optional[CancelFn] = None, resume: bool = False,
                        real_defects: Sequence[np.ndarray] = (),
                        synthetic: Sequence[tuple[Path, Optional[Path], Optional[int]]] = (),
                        status: Optional[Callable[[str], None]] = None) -> VladTrainResult:
    """Train the adapters of VLAD (product `settings`: model, stages, prompts) on defects of
    `references`; checkpoints under run_dir/checkpoints. `synthetic`: accepted high-quality
    samples (image path, mask path, index of its reference) for the `diffusion` stage (not those
    made from a held-back reference); without them a rule family
    stands in. Cancel saves a checkpoint and raises Cancelled; `resume` goes on from it."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from ..engines.vlad import VladModel
    from ..generate.masks import foreground_mask

    cfg.check()
    say = status or (lambda _m: None)
    run_dir = Path(run_dir)
    ckpt_root = run_dir / "checkpoints"
    start, last = None, None
    if resume:
        last = checkpoints.latest(ckpt_root)
        if last is None:
            raise InspectorError(f"nothing to resume: no checkpoint in {ckpt_root} — train without --resume")
        start = checkpoints.verify(last)
        if start.get("config") != cfg.to_json() or start.get("trainer") != "vlad":
            changed = sorted(k for k, v in cfg.to_json().items() if start.get("config", {}).get(k) != v)
            raise InspectorError(f"the checkpoint in {last} was made with other settings "
                                 f"({', '.join(changed) or 'another base'}) — resume with the same settings "
                                 "or train again without --resume")
    train_idx, val_idx = split_references(len(references))
    synthetic = usable_synthetic(synthetic, val_idx)
    if cfg.threads and cfg.device == "cpu":
        torch.set_num_threads(cfg.threads)
    size = int(cfg.image_size)
    mp = cfg.mixed_precision if cfg.mixed_precision != "auto" else ("bf16" if cfg.device == "cuda" else "no")
    accelerator = Accelerator(cpu=cfg.device == "cpu", mixed_precision=mp, project_dir=str(run_dir))
    set_seed(cfg.seed)
    say("loading CLIP")
    vlad_settings = {**(settings or {}), "image_size": size, "adapters_path": None}
    model = VladModel(vlad_settings, str(accelerator.device))
    bb = model.backbone
    model._ensure_text()  # the prompt ensemble's embeddings: where the text starts
    prompts = {"normal": model.prompts[0], "abnormal": model.prompts[1]}
    init_arrays = {**bb.adapter_arrays(), "text_emb": model.text_emb.float().cpu().numpy().copy()}
    objective = build_objective(bb.adapters, model.text_emb, cfg.learn_prompts, model.config.temperature)
    optimizer = torch.optim.Adam([p for p in objective.parameters() if p.requires_grad], lr=cfg.lr)
    objective, optimizer = accelerator.prepare(objective, optimizer)
    inner = accelerator.unwrap_model(objective)

    say("preparing the references")
    refs = [_square(r, size) for r in references]
    fgs = [foreground_mask(r) for r in refs]
    train_refs = [refs[j] for j in train_idx]
    val = _build_validation(refs, fgs, val_idx, cfg, real_defects)

    def arrays_now() -> dict[str, np.ndarray]:
        out = bb.adapter_arrays()
        if cfg.learn_prompts:
            out["text_emb"] = inner.text_embeddings().detach().float().cpu().numpy().copy()
        return out

    def set_arrays(arrays: dict[str, np.ndarray]) -> None:
        bb.load_adapter_arrays(arrays)
        text = torch.from_numpy(arrays.get("text_emb", init_arrays["text_emb"])).to(bb.device)
        if cfg.learn_prompts:
            with torch.no_grad():
                inner.text.copy_(text)
        model.text_emb = torch.nn.functional.normalize(text.float(), dim=-1)

    def validate() -> tuple[dict, np.ndarray, list]:
        if cfg.learn_prompts:
            model.text_emb = inner.text_embeddings().detach().float()
        scores, maps = _score_validation(model, train_refs, val)
        return _metrics(val, scores, maps), scores, maps

    epochs = plan_epochs(cfg)
    total = sum(e.samples for e in epochs)
    history: list[dict] = []
    first_epoch, done_in_epoch, batch, step = 0, 0, cfg.batch_size, 0
    if start is not None:
        first_epoch, done_in_epoch, batch, step, history = restore_run(accelerator, last, start)
        best = dict(start["best"])
        from safetensors.numpy import load_file

        best_arrays = load_file(str(last / BEST_FILE))
    else:
        say("validating the untrained adapters")
        m0, _, _ = validate()
        best, best_arrays = {"epoch": 0, "score": selection_score(m0)}, arrays_now()

    stage_note: list[dict] = []
    sources: dict[str, VladSamples] = {}
    for k, stage in enumerate(("rules", "diffusion")):
        if stage == "diffusion" and synthetic:
            sources[stage] = VladSamples(refs, fgs, train_idx, FAMILIES["rules"], size, cfg.seed, k,
                                         cfg.defect_fraction, synthetic)
            stage_note.append({"stage": stage, "synthetic_samples": len(synthetic)})
        else:
            family = "rules" if stage == "rules" else DIFFUSION_PROXY
            sources[stage] = VladSamples(refs, fgs, train_idx, FAMILIES[family], size, cfg.seed, k,
                                         cfg.defect_fraction)
            stage_note.append({"stage": stage, "family": family, "kinds": list(FAMILIES[family])})
    data_note = {"train_references": len(train_idx), "validation_references": len(val_idx),
                 "validation_defects": list(FAMILIES["validation"]), "real_defects": val.real,
                 "image_size": size, "stages": [n for n in stage_note if n["stage"] in cfg.stages]}
    if "diffusion" in cfg.stages and not synthetic:
        say(f"stage 'diffusion': no accepted high-quality synthetic set, rule family {FAMILIES[DIFFUSION_PROXY]} "
            "stands in")
        data_note["diffusion_proxy"] = True

    seen = sum(e.samples for e in epochs[:first_epoch]) + done_in_epoch
    t_start, seen_at_start = time.perf_counter(), seen

    def save(epoch_i: int, done: int, epoch_losses: Sequence[float] = ()) -> None:
        from safetensors.numpy import save_file

        checkpoints.save(accelerator, ckpt_root, epoch_i, done,
                         {"trainer": "vlad", "batch_size": batch, "step": step, "history": history,
                          "config": cfg.to_json(), "best": best, "epoch_losses": list(epoch_losses)},
                         lambda folder: save_file({k: np.ascontiguousarray(v) for k, v in best_arrays.items()},
                                                  str(folder / BEST_FILE)))

    loss_value = float("nan")
    for ei in range(first_epoch, len(epochs)):
        ep = epochs[ei]
        source = sources[ep.stage]
        offset = ep.index_in_stage * ep.samples
        done = done_in_epoch if ei == first_epoch else 0
        # the losses of an epoch cut by a cancel come back with it: its mean is the uninterrupted one
        losses: list[float] = list(start.get("epoch_losses", [])) if start is not None and ei == first_epoch else []
        while done < ep.samples:
            loader = accelerator.prepare(torch.utils.data.DataLoader(
                IndexRange(source, offset + done, offset + ep.samples), batch_size=batch, shuffle=False,
                num_workers=cfg.workers))
            try:
                for images, targets, labels in loader:
                    if cancel is not None and cancel():
                        save(ei, done, losses)
                        raise Cancelled("training cancelled; resume it with --resume (or Resume in the Training tab)")
                    n_step = len(images) * accelerator.num_processes
                    set_cosine_lr(optimizer, cfg.lr, ep, epochs, done + n_step)
                    loss_value = optimise(accelerator, optimizer,
                                          lambda: _step_loss(objective, bb, images, targets, labels, cfg))
                    step += 1
                    done += n_step
                    seen += n_step
                    losses.append(loss_value)
                    rate = (seen - seen_at_start) / max(time.perf_counter() - t_start, 1e-6)
                    if progress is not None:
                        progress(TrainProgress(ei + 1, len(epochs), step, seen, total, loss_value, rate,
                                               (total - seen) / max(rate, 1e-9), ep.stage))
            except Exception as exc:  # noqa: BLE001 - out of memory halves the batch, the rest is raised
                batch = lower_batch(exc, optimizer, cfg.device, batch, say, hint="a smaller image_size, ")
        metrics, _, _ = validate()
        history.append({"epoch": ei + 1, "stage": ep.stage, "loss": float(np.mean(losses)) if losses else loss_value,
                        "batch_size": batch, **{f"val_{k}": v for k, v in metrics.items()}})
        if selection_score(metrics) > best["score"]:
            best, best_arrays = {"epoch": ei + 1, "score": selection_score(metrics)}, arrays_now()
        save(ei + 1, 0)
        if progress is not None:
            rate = (seen - seen_at_start) / max(time.perf_counter() - t_start, 1e-6)
            progress(TrainProgress(ei + 1, len(epochs), step, seen, total, history[-1]["loss"], rate,
                                   (total - seen) / max(rate, 1e-9), ep.stage, "validated", metrics))

    say("comparing with the untrained adapters")
    set_arrays(init_arrays)
    m_untrained, _, maps_untrained = validate_fixed(model, train_refs, val)
    set_arrays(best_arrays)
    m_trained, _, maps_trained = validate_fixed(model, train_refs, val)
    data_note["selected_epoch"] = best["epoch"]
    meta = {"model_id": model.config.model_id, "stages": list(bb.stages), "embed_dim": bb.embed_dim,
            "trained_image_size": bb.input_size, "learn_prompts": cfg.learn_prompts, "prompts": prompts}
    result = VladTrainResult(best_arrays, meta, cfg, history, {"vlad": m_untrained, "local": m_trained}, data_note)
    result.examples = _examples(val, maps_untrained, maps_trained)
    return result


def validate_fixed(model: Any, train_refs: Sequence[np.ndarray], val: _Validation) -> tuple[dict, np.ndarray, list]:
    """Validation metrics of the model's current adapters and text embeddings."""
    scores, maps = _score_validation(model, train_refs, val)
    return _metrics(val, scores, maps), scores, maps


def _examples(val: _Validation, untrained: Sequence[np.ndarray], trained: Sequence[np.ndarray],
              n: int = 3) -> dict[str, np.ndarray]:
    import cv2

    idx = [i for i, m in enumerate(val.masks) if m is not None and val.labels[i] == 1][:n]
    if not idx:
        return {}
    return {"image": np.stack([cv2.resize(val.images[i], (METRIC_PX, METRIC_PX), interpolation=cv2.INTER_AREA)
                               for i in idx]),
            "vlad": np.stack([untrained[i] for i in idx]).astype(np.float32),
            "local": np.stack([trained[i] for i in idx]).astype(np.float32),
            "mask": np.stack([val.masks[i] for i in idx])}
