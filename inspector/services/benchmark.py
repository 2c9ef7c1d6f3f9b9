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

    if engine == "iapas":  # zero-shot: no references; timed by stage
        settings = dict(settings or {})
        return run_iapas_bench(size, n, device, settings, min(warmup, 2), random_weights,
                               sam_variant=settings.pop("sam_variant", "vit_b"),
                               progress=progress, cancel=cancel)
    if random_weights:
        if engine != "vlad":
            raise InspectorError("--random-weights applies to engines built on foundation weights (vlad, iapas)")
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


def random_iapas_weights(folder: Path, sam_variant: str = "vit_b") -> dict[str, Any]:
    """IAP-AS settings that load Grounding DINO tiny and SAM `sam_variant` of the real sizes with
    random weights, saved in the real formats (save_pretrained folder, torch state dict).

    The Grounding DINO tokenizer is a BERT WordPiece of the real vocabulary size (30522) built
    here (the real vocabulary cannot be fetched offline); prompts tokenize to about as many
    tokens as with the real one, so caption batching costs the same.
    """
    import torch
    from transformers import (BertTokenizer, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor)

    from ..engines.iapas.prompts import load_vocabulary
    from ..weights.loaders import SAM_VARIANTS, build_sam

    voc = load_vocabulary()
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","]
    for e in (voc.generic, *voc.materials, *voc.objects):
        for s in (e.key, *e.aliases, *e.defects, *e.phrases):
            words += s.replace("{", " ").replace("}", " ").split()
    words = list(dict.fromkeys(words))
    words += [f"w{i}" for i in range(30522 - len(words))]
    torch.manual_seed(0)
    gd = folder / "grounding-dino-tiny-random"
    GroundingDinoForObjectDetection(GroundingDinoConfig()).save_pretrained(gd)  # Swin-T + BERT-base
    GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(),
                           tokenizer=BertTokenizer(vocab={w: i for i, w in enumerate(words)})
                           ).save_pretrained(gd)
    if sam_variant not in SAM_VARIANTS:
        raise InspectorError(f"SAM variant must be one of {', '.join(SAM_VARIANTS)}, not '{sam_variant}'")
    sam = folder / f"sam-{sam_variant}-random.pth"
    torch.save(build_sam(SAM_VARIANTS[sam_variant]).state_dict(), sam)
    return {"detector_folder": str(gd), "sam_checkpoint": str(sam), "sam_variant": sam_variant}


def run_iapas_bench(size: int = 1024, n: int = 10, device: str = "cpu",
                    settings: Optional[dict[str, Any]] = None, warmup: int = 2,
                    random_weights: bool = False, sam_variant: str = "vit_b",
                    progress: Optional[ProgressFn] = None,
                    cancel: Optional[CancelFn] = None) -> dict:
    """`inspector bench --engine iapas`: per-image latency of IAP-AS split by stage.

    No references (the engine's rung); the prompts are the vocabulary's for a fabric product.
    Stages (ms, p50 over the images): resize, detect (Grounding DINO, all captions),
    filter, sam_embed (image encoder), sam_decode (all kept boxes), map; plus the verdict.
    """
    from ..engines.iapas.verdict import IapasDetector, default_calibration

    tmp = None
    settings = {"object_name": "fabric", "tags": {"material": "fabric"}, "llm": "",
                "work_size": size, **(settings or {})}
    if random_weights:
        tmp = tempfile.TemporaryDirectory(prefix="inspector-bench-")
        report(progress, 0, n, "writing random weights of the real architectures")
        settings.update(random_iapas_weights(Path(tmp.name), sam_variant))
    try:
        images = bench_images(n, size, 1)
        model = make_model("iapas", settings, device)
        t0 = time.perf_counter()
        model.fit([], cancel=cancel)
        _ = model.groups, model.segmenter  # load both models before timing
        fit_s = time.perf_counter() - t0
        det = IapasDetector(model, default_calibration(settings), "defect")
        if device == "cuda":
            import torch
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        for i in range(warmup):
            det.predict(images[i % n])
        lat, cpu, stages, kept = [], [], [], []
        t_all = time.perf_counter()
        for i, img in enumerate(images):
            check_cancel(cancel)
            report(progress, i, n, "scoring")
            t1, c1 = time.perf_counter(), time.process_time()
            (r, o), = det.predict_detailed([img])
            if device == "cuda":
                import torch
                torch.cuda.synchronize()
            lat.append((time.perf_counter() - t1) * 1e3)
            cpu.append((time.process_time() - c1) * 1e3)  # all threads: wall on a busy machine overstates
            stages.append({k[len("iapas_"):]: v for k, v in r.timings_ms.items() if k.startswith("iapas_")})
            stages[-1]["verdict"] = r.timings_ms.get("post", 0.0)
            kept.append(len(o.kept))
        wall = time.perf_counter() - t_all
        names = list(stages[0])
        out = {"random_weights": random_weights, "engine": "iapas", "engine_version": model.version,
               "device": device, "size": size, "refs": 0, "n": n, "batch": 1, "fit_s": fit_s,
               "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
               "images_per_s": n / wall, "peak_rss_mb": _peak_rss_mb(),
               "machine": machine_description(device), "cpu_ms_p50": float(np.percentile(cpu, 50)),
               # SAM runs only on images with kept boxes: its stages are p50 over those images
               "stages_p50_ms": {k: float(np.percentile([s[k] for s in ran], 50)) for k in names
                                 if (ran := [s for s in stages if not k.startswith("sam") or s[k] > 0])},
               "images_with_boxes": sum(1 for k in kept if k > 0),
               "captions": len(model.groups), "prompts": len(model.prompt_set.prompts),
               "kept_boxes_p50": float(np.median(kept)),
               "detector": "grounding-dino-tiny (random)" if random_weights else model.config.detector_id,
               "sam": f"{sam_variant} (random)" if random_weights else model.config.sam_id}
        if device == "cuda":
            import torch
            out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        report(progress, n, n, "done")
        return out
    finally:
        if tmp is not None:
            tmp.cleanup()
