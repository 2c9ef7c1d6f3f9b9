"""Measure the Live tab on a replayed folder: displayed FPS, scoring FPS, GUI-thread latency.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/measure_live.py [--fps 30] [--seconds 10]

Builds a fitted demo 'washer' product in a temporary workspace, replays its test images as a
camera, and probes the GUI thread with zero-timers every 20 ms while scoring runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from inspector.generate.procedural import write_demo_dataset
    from inspector.gui.app import create_window
    from inspector.services.engine_state import fit_product
    from inspector.services.products import create_product
    from inspector.services.references import add_references
    from inspector.storage.workspace import init_workspace

    tmp = Path(tempfile.mkdtemp(prefix="inspector-live-"))
    data = write_demo_dataset(tmp / "data", "washer", n_train=16, n_test_good=8, n_test_bad=12,
                              size=args.size, seed=0)
    ws = init_workspace(tmp / "ws")
    create_product(ws, "washer", tags={"object": "washer"})
    add_references(ws, "washer", [data / "train" / "good"])
    fit_product(ws, "washer")
    ws.close()
    replay = tmp / "replay"
    replay.mkdir()
    for p in sorted((data / "test").rglob("*.png")):
        (replay / f"{p.parent.name}_{p.name}").write_bytes(p.read_bytes())

    app = QApplication.instance() or QApplication([])
    w = create_window(tmp / "ws", settings_file=tmp / "settings.ini")
    w.resize(1280, 800)
    w.show()
    tab = w.tab_widgets["live"]
    w.show_tab("live")
    tab.set_source("folder", str(replay), fps=args.fps)
    tab.start()

    def pump(until: float) -> None:
        while time.monotonic() < until:
            app.processEvents()
            time.sleep(0.002)

    deadline = time.monotonic() + 120
    while tab.counts["inspected"] == 0 and time.monotonic() < deadline:
        pump(time.monotonic() + 0.05)
    delays: list[float] = []
    shown_samples, scored_samples = [], []
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        posted = time.perf_counter()
        ran: list[float] = []
        QTimer.singleShot(0, lambda: ran.append(time.perf_counter()))
        while not ran:
            app.processEvents()
        delays.append((ran[0] - posted) * 1000)
        pump(time.monotonic() + 0.02)
        shown, scored, _ = tab.rates_now()
        shown_samples.append(shown)
        scored_samples.append(scored)
    shown, scored, dropped = tab.rates_now()
    tab.shutdown()
    w.close()
    tail = shown_samples[len(shown_samples) // 4:]
    print(f"source {args.fps:.1f} FPS, {args.size} px, {args.seconds:.0f} s")
    print(f"displayed FPS: median {statistics.median(tail):.1f} (min {min(tail):.1f})")
    print(f"scoring FPS:   median {statistics.median(scored_samples[len(scored_samples) // 4:]):.1f}")
    print(f"GUI latency:   p50 {statistics.median(delays):.1f} ms, p99 "
          f"{sorted(delays)[int(0.99 * (len(delays) - 1))]:.1f} ms, worst {max(delays):.1f} ms "
          f"({len(delays)} probes)")
    print(f"frames not scored (latest frame wins): {dropped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
