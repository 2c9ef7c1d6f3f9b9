"""Time VLAD adapter training (issue 13 item 9) with random weights of the real CLIP architecture.

Random weights have the real cost (the scores are meaningless): a ViT-L-14 at 512 px trained on
2,000 rule-based samples made on the fly from 16 rendered references, the seed's settings
(batch 16, Adam 1e-4 cosine), one validation at the end of the epoch. Runs on N processes too:

    python scripts/bench_vlad_train.py --device cuda --json one.json
    accelerate launch --num_processes 2 scripts/bench_vlad_train.py --device cuda --json two.json
    python scripts/bench_vlad_train.py --tiny --json tiny.json     # CPU smoke test: a tiny CLIP

Prints one JSON object (main process only): wall seconds (CLIP load + training + validation),
training seconds and samples/s (all processes together), peak GPU memory per process.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# a 2-block ViT of open_clip's CLIP layout (weights_fixtures' tiny CLIP): the smoke test's model
TINY_CONFIG = {"embed_dim": 32, "quick_gelu": True,
               "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
               "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


def random_weights(model_id: str, folder: Path, tiny: bool, cpu: bool) -> dict:
    """VLAD settings pointing at a random-weight checkpoint written (once, by the main process) in folder."""
    from accelerate import PartialState

    state = PartialState(cpu=cpu)  # the process group the trainer's Accelerator then joins
    if tiny:
        path = folder / "random-tiny.pt"
        settings = {"arch": "tiny-vit", "checkpoint": str(path), "model_config": TINY_CONFIG}
        if state.is_main_process and not path.is_file():
            import open_clip
            import torch

            torch.manual_seed(0)
            torch.save(open_clip.model.CLIP(**TINY_CONFIG).state_dict(), path)
        state.wait_for_everyone()
        return settings
    saved = folder / f"settings-{model_id}.json"
    if state.is_main_process and not (saved.is_file()
                                      and Path(json.loads(saved.read_text())["checkpoint"]).is_file()):
        from inspector.services.benchmark import random_clip_checkpoint

        saved.write_text(json.dumps(random_clip_checkpoint(model_id, folder)))
    state.wait_for_everyone()
    return json.loads(saved.read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-id", default="clip-vit-l-14", help="architecture from models/manifest.toml")
    p.add_argument("--image-size", type=int, default=512)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=1, help="the samples are split over this many epochs")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--refs", type=int, default=16)
    p.add_argument("--workers", type=int, default=8, help="DataLoader processes making the defects")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--weights-dir", help="where the random checkpoint is written, shared by the processes "
                                         "(default: inspector-vlad-train-bench in the temp folder)")
    p.add_argument("--tiny", action="store_true", help="smoke test: tiny CLIP, 64 px, 32 samples, CPU")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    if args.tiny:
        args.image_size, args.samples, args.batch, args.refs, args.workers = 64, 32, 8, 5, 0
        args.device = "cpu"

    import numpy as np
    import torch
    from accelerate import PartialState

    from inspector.engines.registry import resolve_device
    from inspector.generate.procedural import render_good
    from inspector.services.benchmark import machine_description
    from inspector.train.vlad_adapters import VladTrainConfig, train_vlad_adapters

    device = resolve_device(args.device)
    if device == "cpu":
        torch.set_num_threads(1)
    weights_dir = Path(args.weights_dir or Path(tempfile.gettempdir()) / "inspector-vlad-train-bench")
    weights_dir.mkdir(parents=True, exist_ok=True)
    settings = random_weights(args.model_id, weights_dir, args.tiny, device == "cpu")
    settings.update({"model_id": args.model_id, "object_name": "fabric", "max_bank": 16384})
    rng = np.random.default_rng(0)
    size = 64 if args.tiny else 512
    references = [render_good("fabric", rng, size) for _ in range(args.refs)]
    cfg = VladTrainConfig(epochs=args.epochs, samples_per_epoch=max(1, args.samples // args.epochs),
                          batch_size=args.batch, image_size=args.image_size, device=device, workers=args.workers)
    timing: dict = {"first_step": None, "last": None, "samples": 0}

    def on_progress(pr) -> None:
        now = time.perf_counter()
        if pr.validation is None:
            if timing["first_step"] is None:
                timing["first_step"], timing["first_samples"] = now, pr.samples
            timing["last"], timing["samples"] = now, pr.samples

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="inspector-vlad-run-") as run:
        result = train_vlad_adapters(references, cfg, Path(run), settings, progress=on_progress)
    wall = time.perf_counter() - t0
    state = PartialState()
    steady = timing["samples"] - timing.get("first_samples", 0)
    span = (timing["last"] or t0) - (timing["first_step"] or t0)
    out = {"model": "tiny (2 blocks)" if args.tiny else f"{args.model_id} (random weights)",
           "image_size": args.image_size, "samples": cfg.epochs * cfg.samples_per_epoch, "batch": args.batch,
           "processes": state.num_processes, "device": device, "machine": machine_description(device),
           "wall_s": round(wall, 2), "samples_per_s_after_first_step": round(steady / span, 2) if span > 0 else None,
           "final_loss": result.history[-1]["loss"], "epochs": cfg.epochs}
    if device == "cuda":
        out["peak_gpu_mb_this_process"] = round(torch.cuda.max_memory_allocated() / 2**20)
    if state.is_main_process:
        text = json.dumps(out, indent=1)
        print(text)
        if args.json:
            Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
