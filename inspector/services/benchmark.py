"""`inspector bench`: latency, throughput, peak memory and fit time of an engine."""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..core.errors import InspectorError

from ..core.progress import CancelFn, ProgressFn, check_cancel, report
from ..engines.detector import Calibration, Detector
from ..engines.registry import make_model


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (NaN where the OS does not say, e.g. Windows)."""
    try:
        import resource
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def machine_description(device: str) -> str:
    import os

    desc = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU threads"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
        if model:
            desc = f"{model}, {os.cpu_count()} CPU threads"
    except OSError:
        pass
    if device == "cuda":
        import torch

        desc += f"; GPU {torch.cuda.get_device_name(0)}"
    return desc


def bench_images(n: int, size: int, seed: int) -> list[np.ndarray]:
    """Procedural product images (the demo's fabric) at size x size."""
    from ..generate.procedural import render_defective, render_good

    rng = np.random.default_rng(seed)
    return [render_good("fabric", rng, size) if i % 2 == 0 else render_defective("fabric", rng, size)[0]
            for i in range(n)]


def random_clip_checkpoint(model_id: str, folder: Path) -> dict[str, Any]:
    """Settings that load a randomly initialised CLIP of `model_id`'s real architecture.

    Random weights have the real cost, so speed can be measured where weights cannot be had.
    """
    import open_clip
    import torch

    from ..weights.manifest import load_manifest

    arch = load_manifest().get(model_id).options.get("arch", model_id)
    model = open_clip.create_model(arch, pretrained=None)
    path = folder / f"random-{arch}.pt"
    torch.save(model.state_dict(), path)
    return {"arch": arch, "checkpoint": str(path), "model_config": open_clip.get_model_config(arch)}


def run_bench(engine: str, size: int = 512, refs: int = 16, n: int = 50, device: str = "cpu",
              batch: int = 1, settings: Optional[dict[str, Any]] = None, warmup: int = 3,
              random_weights: bool = False, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelFn] = None) -> dict:
    from ..generate.procedural import render_good

    if random_weights:
        if engine != "vlad":
            raise InspectorError("--random-weights applies to engines built on foundation weights (vlad)")
        tmp = tempfile.TemporaryDirectory(prefix="inspector-bench-")
        settings = {**(settings or {}), **random_clip_checkpoint(
            (settings or {}).get("model_id", "clip-vit-l-14"), Path(tmp.name))}
    rng = np.random.default_rng(0)
    references = [render_good("fabric", rng, size) for _ in range(refs)]
    images = bench_images(n, size, 1)
    model = make_model(engine, settings, device)
    report(progress, 0, n, f"fitting on {refs} reference(s)")
    t0 = time.perf_counter()
    model.fit(references, cancel=cancel)
    fit_s = time.perf_counter() - t0
    scores = [s for s, _ in model.score(references[:2])]
    det = Detector(model, Calibration(threshold=max(scores) * 1.1 + 1e-6, map_lo=0.0, map_hi=1.0))
    if device == "cuda":
        import torch
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    for i in range(warmup):
        det.predict_batch(images[i % n: i % n + batch])
    lat = []
    t_all = time.perf_counter()
    for i in range(0, n, batch):
        check_cancel(cancel)
        report(progress, i, n, "scoring")
        chunk = images[i:i + batch]
        t1 = time.perf_counter()
        det.predict_batch(chunk)
        if device == "cuda":
            import torch
            torch.cuda.synchronize()
        lat.append((time.perf_counter() - t1) * 1e3 / len(chunk))
    wall = time.perf_counter() - t_all
    out = {"random_weights": random_weights, "engine": engine, "engine_version": model.version, "device": device, "size": size,
           "refs": refs, "n": n, "batch": batch, "fit_s": fit_s,
           "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
           "images_per_s": n / wall, "peak_rss_mb": _peak_rss_mb(),
           "machine": machine_description(device)}
    if device == "cuda":
        import torch
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    report(progress, n, n, "done")
    return out
