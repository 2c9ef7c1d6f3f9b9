"""`eval` on MVTec-AD-layout folders and `bench` for speed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..core.errors import InspectorError
from ..core.names import safe_display
from .common import at_least, check_output_dir, check_output_file, positive_int, progress_bar


def _settings(items: list[str] | None) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InspectorError(f"--set '{item}' must look like key=value")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    from ..engines.registry import resolve_device
    from ..services.evaluation import evaluate, format_table, write_json
    from ..services.products import check_engine

    # Outputs are checked first: a long evaluation must not end on an unwritable --json path.
    check_engine(args.engine)
    settings = _settings(args.set)
    json_path = check_output_file(args.json, "JSON file", "results.json") if args.json else None
    maps = check_output_dir(args.save_maps, "maps folder") if args.save_maps else None
    stages = None
    if args.stages:
        from ..services.training import parse_stages

        stages = parse_stages(args.stages)
    device = resolve_device(args.device)
    with progress_bar("eval") as progress:
        result = evaluate(Path(args.root), args.engine, args.category, args.shots, device, settings,
                          maps, progress, stages=stages)
    shots = f"{args.shots} shot(s)" if args.shots else "all references"
    print(f"engine {result['engine']} v{result['engine_version']} on {result['device']}, {shots}")
    print(format_table(result))
    if json_path is not None:
        write_json(result, json_path)
        print(f"wrote {safe_display(json_path)}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ..engines.registry import resolve_device
    from ..services.benchmark import run_bench
    from ..services.products import check_engine

    check_engine(args.engine)
    settings = _settings(args.set)
    json_path = check_output_file(args.json, "JSON file", "results.json") if args.json else None
    r = run_bench(args.engine, args.size, args.refs, args.n, resolve_device(args.device), args.batch,
                  settings, random_weights=args.random_weights)
    print(f"engine {r['engine']} v{r['engine_version']} on {r['device']} ({r['machine']})"
          + (" with random weights" if r["random_weights"] else ""))
    print(f"{r['size']}x{r['size']}, {r['refs']} references, {r['n']} images, batch {r['batch']}")
    print(f"fit        {r['fit_s']:.2f} s")
    print(f"latency    p50 {r['p50_ms']:.1f} ms   p95 {r['p95_ms']:.1f} ms per image")
    print(f"throughput {r['images_per_s']:.1f} images/s")
    if r.get("stages_p50_ms"):
        print("stages p50 " + ", ".join(f"{k} {v:.1f} ms" for k, v in r["stages_p50_ms"].items()))
    print(f"peak RSS   {r['peak_rss_mb']:.0f} MB" + (f"   peak GPU {r['peak_gpu_mb']:.0f} MB" if 'peak_gpu_mb' in r else ""))
    if json_path is not None:
        from ..core.image_io import atomic_write_bytes
        atomic_write_bytes(json_path, json.dumps(r, indent=1).encode())
        print(f"wrote {safe_display(json_path)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate an engine on folders in MVTec-AD layout")
    p.add_argument("root", help="folder holding <category>/train/good, test/<type>, ground_truth/<type>")
    p.add_argument("--engine", default="standalone")
    p.add_argument("--shots", type=positive_int, help="use the first K train images as references (default all)")
    p.add_argument("--category", action="append", help="only this category (repeatable)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", metavar="FILE", help="write figures and per-image scores as JSON")
    p.add_argument("--save-maps", metavar="DIR", help="write each anomaly map as a 16-bit PNG")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="engine setting (repeatable)")
    p.add_argument("--stages", help="--engine local: the training schedule, e.g. rules,diffusion (as `train`)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="measure an engine's latency, throughput, memory and fit time")
    p.add_argument("--engine", default="standalone")
    p.add_argument("--size", type=at_least(32), default=512, help="image side in pixels (at least 32)")
    p.add_argument("--refs", type=positive_int, default=16)
    p.add_argument("--n", type=positive_int, default=50)
    p.add_argument("--batch", type=positive_int, default=1)
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="engine setting (repeatable)")
    p.add_argument("--random-weights", action="store_true",
                   help="random weights of the real architecture (speed only, no weights needed)")
    p.set_defaults(func=cmd_bench)
