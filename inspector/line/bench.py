"""Trigger-to-verdict latency of a hot-folder station (a benchmark, not a test).

    python -m inspector.line.bench --size 512 --n 100 --interval 0.25

A fresh temporary workspace gets a product on the engine (procedural fabric references,
fitted once); another process then drops `n` images into a hot folder, one every `interval`
seconds, each written under a hidden name and renamed, as line cameras do. The trigger is the
file's modification time; the verdict is the moment its record committed. Prints p50/p95.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

WRITER = """
import os, shutil, sys, time
from pathlib import Path
src, hot, interval = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
for path in sorted(src.iterdir()):
    tmp = hot / ("." + path.name)
    shutil.copyfile(path, tmp)
    os.replace(tmp, hot / path.name)
    time.sleep(interval)
"""


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # Windows
        return None


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def run_line_bench(size: int = 512, n: int = 100, refs: int = 16, interval: float = 0.25,
                   engine: str = "standalone", retention: str = "all", warmup: int = 3) -> dict:
    from ..core.image_io import save_png
    from ..services.benchmark import bench_images, machine_description
    from ..services.engine_state import fit_product
    from ..services.products import create_product
    from ..services.references import add_references
    from ..storage.workspace import init_workspace
    from .feeds import HotFolderFeed
    from .pipeline import LinePipeline

    load_start = _load()
    with tempfile.TemporaryDirectory(prefix="inspector-line-bench-") as tmp_text:
        tmp = Path(tmp_text)
        ws = init_workspace(tmp / "ws")
        try:
            create_product(ws, "bench", engine=engine)
            ref_paths = []
            for i, image in enumerate(bench_images(refs * 2, size, seed=7)[::2]):  # good ones
                ref_paths.append(tmp / "refs" / f"r{i:03d}.png")
                ref_paths[-1].parent.mkdir(exist_ok=True)
                save_png(ref_paths[-1], image)
            add_references(ws, "bench", ref_paths)
            t0 = time.perf_counter()
            fit_product(ws, "bench")
            fit_s = time.perf_counter() - t0
            src = tmp / "src"
            src.mkdir()
            for i, image in enumerate(bench_images(n + warmup, size, seed=11)):
                save_png(src / f"part_{i:05d}.png", image)
            hot = tmp / "hot"
            hot.mkdir()
            pipe = LinePipeline(ws, "bench", HotFolderFeed(ws, hot, "bench"), station="bench",
                                retention=retention)
            results = []
            pipe.add_listener(results.append)
            writer = subprocess.Popen([sys.executable, "-c", WRITER, str(src), str(hot), str(interval)])
            stop = threading.Event()
            timer = threading.Timer(60 + (n + warmup) * (interval + 2), stop.set)  # a safety net
            timer.start()
            try:
                pipe.run(stop, max_parts=n + warmup)
            finally:
                timer.cancel()
                writer.wait(30)
                pipe.feed.close()
        finally:
            ws.close()
    measured = results[warmup:]
    cycle = [r.cycle_ms for r in measured]
    inspect = [r.inspect_ms for r in measured]
    return {
        "engine": engine, "size": size, "parts": len(measured), "interval_s": interval,
        "retention": retention, "machine": machine_description("cpu"), "fit_s": round(fit_s, 2),
        "trigger_to_verdict_ms": {"p50": round(_pct(cycle, 50), 1), "p95": round(_pct(cycle, 95), 1),
                                  "max": round(max(cycle), 1) if cycle else None},
        "engine_ms": {"p50": round(_pct(inspect, 50), 1), "p95": round(_pct(inspect, 95), 1)},
        "ng": sum(r.verdict == "NG" for r in measured),
        "load_average": [load_start, _load()],  # other work on the machine, start and end
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inspector.line.bench", description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--n", type=int, default=100, help="parts measured (after 3 warm-up parts)")
    p.add_argument("--refs", type=int, default=16)
    p.add_argument("--interval", type=float, default=0.25, help="seconds between parts")
    p.add_argument("--engine", default="standalone")
    p.add_argument("--retain", default="all", choices=["all", "ng", "thumbs"])
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = p.parse_args(argv)
    out = run_line_bench(args.size, args.n, args.refs, args.interval, args.engine, args.retain)
    lat, eng = out["trigger_to_verdict_ms"], out["engine_ms"]
    print(f"{out['engine']} engine, {out['size']} px, {out['parts']} hot-folder parts every "
          f"{out['interval_s']} s, retention {out['retention']}, on {out['machine']}")
    print(f"trigger-to-verdict p50 {lat['p50']} ms, p95 {lat['p95']} ms, max {lat['max']} ms "
          f"(engine alone p50 {eng['p50']} ms, p95 {eng['p95']} ms); fit {out['fit_s']} s; "
          f"load average {out['load_average'][0]} -> {out['load_average'][1]}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
