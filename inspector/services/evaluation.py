"""Evaluate an engine on MVTec-AD-layout folders: fit on the first K train images, score the
test set, compute image and pixel metrics. Test images never fit, tune or threshold anything."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..core import metrics
from ..core.errors import InspectorError
from ..core.image_io import atomic_write_bytes, encode_png, load_image, load_mask
from ..core.mvtec import Category, read_dataset
from ..core.progress import CancelFn, ProgressFn, check_cancel, report
from ..engines.registry import get_engine, make_model

METRIC_KEYS = ("i_auroc", "i_f1max", "p_auroc", "p_f1max", "pro")


def _save_maps(folder: Path, cat: Category, maps: list[np.ndarray]) -> dict[str, float]:
    """16-bit PNGs at input size on one scale per category (lo -> 0, hi -> 65535)."""
    lo = float(min(m.min() for m in maps))
    hi = float(max(m.max() for m in maps))
    span = max(hi - lo, 1e-12)
    for t, m in zip(cat.test, maps):
        q = np.round((m - lo) / span * 65535).astype(np.uint16)
        atomic_write_bytes(folder / cat.name / t.defect_type / f"{t.path.stem}.png", encode_png(q))
    return {"lo": lo, "hi": hi}


def evaluate_category(cat: Category, engine: str, shots: Optional[int] = None, device: str = "cpu",
                      settings: Optional[dict[str, Any]] = None, save_maps: Optional[Path] = None,
                      progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
                      stages: Optional[tuple[str, ...]] = None) -> dict:
    refs_paths = cat.train[:shots] if shots else cat.train
    total = len(refs_paths) + len(cat.test)
    report(progress, 0, total, f"{cat.name}: loading references")
    refs = [load_image(p) for p in refs_paths]
    merged = {"object_name": cat.name.replace("_", " "), **(settings or {})}
    t0 = time.perf_counter()
    if engine == "local":  # trained here on synthetic defects of the train images only
        from .training import train_for_eval

        from ..train.loop import TrainConfig

        config = TrainConfig(stages=stages) if stages else None
        model = train_for_eval(refs, merged, device, config=config, progress=progress, cancel=cancel)
    else:
        model = make_model(engine, merged, device)
        model.fit(refs, cancel=cancel)
    fit_s = time.perf_counter() - t0
    scores, maps, masks, times = [], [], [], []
    for i, t in enumerate(cat.test):
        check_cancel(cancel)
        report(progress, len(refs) + i, total, f"{cat.name}: {t.defect_type}/{t.path.name}")
        img = load_image(t.path)
        t1 = time.perf_counter()
        (score, amap), = model.score([img])
        times.append((time.perf_counter() - t1) * 1e3)
        scores.append(float(score))
        maps.append(amap.astype(np.float32))
        masks.append(load_mask(t.mask_path, img.shape[:2]) if t.mask_path else np.zeros(img.shape[:2], bool))
    labels = np.array([t.label for t in cat.test])
    figures = metrics.summarize(labels, np.array(scores), masks, maps)
    out: dict[str, Any] = {k: float(figures[k]) for k in METRIC_KEYS}
    out.update(ms_per_image=float(np.median(times)), fit_s=fit_s, n_refs=len(refs),
               n_test=len(cat.test), n_defective=int(labels.sum()))
    if getattr(model, "training", None):  # local: what the head learned, on its own validation
        out["training"] = model.training
    if save_maps is not None:
        out["map_scale"] = _save_maps(Path(save_maps), cat, maps)
    out["images"] = [{"path": str(t.path), "defect_type": t.defect_type, "label": t.label,
                      "score": s} for t, s in zip(cat.test, scores)]
    report(progress, total, total, f"{cat.name}: done")
    return out


def evaluate(root: Path, engine: str, categories: Optional[Sequence[str]] = None,
             shots: Optional[int] = None, device: str = "cpu", settings: Optional[dict] = None,
             save_maps: Optional[Path] = None, progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelFn] = None, stages: Optional[tuple[str, ...]] = None) -> dict:
    """`stages`: the local engine's training schedule (default: the trainer's)."""
    if shots is not None and shots < 1:
        raise InspectorError("--shots must be at least 1")
    if stages and engine != "local":
        raise InspectorError(f"--stages is for --engine local (it trains), not {engine} — leave it out")
    dataset = read_dataset(Path(root), categories)  # validates every category before any work
    results = {c.name: evaluate_category(c, engine, shots, device, settings, save_maps, progress, cancel, stages)
               for c in dataset}
    mean = {k: float(np.nanmean([r[k] for r in results.values()])) for k in (*METRIC_KEYS, "ms_per_image")}
    engine_version = get_engine(engine).load_class().version
    return {"root": str(root), "engine": engine, "engine_version": engine_version, "device": device,
            "shots": shots, "categories": results, "mean": mean, **({"stages": list(stages)} if stages else {})}


def format_table(result: dict) -> str:
    head = f"{'category':<16}{'I-AUROC':>9}{'I-F1max':>9}{'P-AUROC':>9}{'P-F1max':>9}{'PRO':>8}{'ms/img':>9}{'refs':>6}"
    lines = [head, "-" * len(head)]

    def fmt(v: float) -> str:
        return "   n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

    for name, r in [*result["categories"].items(), ("mean", result["mean"])]:
        refs = str(r.get("n_refs", ""))
        lines.append(f"{name:<16}{fmt(r['i_auroc']):>9}{fmt(r['i_f1max']):>9}{fmt(r['p_auroc']):>9}"
                     f"{fmt(r['p_f1max']):>9}{fmt(r['pro']):>8}{r['ms_per_image']:>9.1f}{refs:>6}")
    return "\n".join(lines)


def write_json(result: dict, path: Path) -> None:
    atomic_write_bytes(Path(path), json.dumps(result, indent=1, allow_nan=True).encode())
