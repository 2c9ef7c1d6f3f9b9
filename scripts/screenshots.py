"""Start the app on a fresh demo workspace and save a PNG of the welcome page and every tab.

Run under a display (or Xvfb), at the screen sizes that matter (a 1366x768 laptop, a 1920x1080 monitor):
    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/screenshots.py [--out DIR]

Without --size the window keeps the size the app gives its first window (it must fit the
screen); the script prints the window's frame against the screen's available area and fails
when the window does not fit.

It also measures the Live tab on a replayed folder at 30 FPS (displayed FPS, scoring FPS and
the worst GUI-thread latency while scoring runs) and prints the figures.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from shot_kit import ShotKit, run_isolated  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--live-seconds", type=float, default=6.0)
    ap.add_argument("--size", default="", help="force a window size, WxH (default: the app's own)")
    args = ap.parse_args()
    return run_isolated("inspector-shots-", lambda tmp: shoot(args, tmp))


def shoot(args: argparse.Namespace, tmp: Path) -> int:
    from PySide6.QtCore import QTimer

    from inspector.gui.app import create_window

    kit = ShotKit(args.out)
    pump, wait_for = kit.pump, kit.wait_for

    def save(name: str) -> None:
        kit.save(w, name)

    w = create_window()
    if args.size:
        w.resize(*(int(v) for v in args.size.split("x")))
    w.show()
    pump(0.5)
    avail = w.screen().availableGeometry()
    frame = w.frameGeometry()
    print(f"screen available {avail.width()}x{avail.height()}, window frame {frame.width()}x{frame.height()} "
          f"at {frame.x()},{frame.y()}")
    if not avail.contains(frame):
        raise SystemExit("the first window does not fit the screen")
    save("welcome")

    demo = tmp / "demo-workspace"
    t0 = time.monotonic()
    w.open_demo(demo)
    label = w.welcome.progress.label
    wait_for(lambda: "fold" in label.text() or w.state.workspace is not None, 600, "the demo calibration")
    if w.state.workspace is None:
        save("welcome-progress")  # the long step text must elide, not be cut
    wait_for(lambda: w.state.workspace is not None, 600, "the demo workspace")
    print(f"demo workspace built and fitted in {time.monotonic() - t0:.1f} s")
    w.state.select_product("washer")
    products = w.tab_widgets["products"]
    w.show_tab("products")
    wait_for(lambda: len(products.grid.model.thumbs) == products.grid.model.rowCount(), 60, "thumbnails")
    save("products")

    products.edit_regions()  # the ignore-regions editor with a box over the washer's tab
    wait_for(lambda: getattr(products, "regions_dialog", None) is not None, 30, "the ignore-regions editor")
    regions = products.regions_dialog
    regions.resize(900, 560)
    regions.canvas.boxes = [(0.44, 0.28, 0.56, 0.4)]
    regions.canvas.selected = 0
    regions._refresh()
    pump(0.3)
    regions.grab().save(str(args.out / "ignore-regions.png"))
    print(f"saved {args.out / 'ignore-regions.png'}")
    regions.reject()

    dlg = w.create_workspace_dialog()
    pump(0.3)
    dlg.grab().save(str(args.out / "dialog-new-workspace.png"))
    dlg.reject()

    # a batch with one unreadable file: it is listed as skipped, the rest is inspected
    batch = tmp / "batch"
    shutil.copytree(demo / "demo-data" / "washer" / "test", batch)
    (batch / "good" / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n only the start of a PNG")
    inspect = w.tab_widgets["inspect"]
    w.show_tab("inspect")
    inspect.inspect([batch])
    wait_for(lambda: not inspect.progress.busy(), 600, "the batch inspection")
    ng = [i for i, e in enumerate(inspect.entries) if e.verdict == "NG"]
    inspect.select_entry(ng[0] if ng else 0)
    wait_for(inspect.view.has_image, 10, "the inspected image")
    save("inspect")

    history = w.tab_widgets["history"]
    w.show_tab("history")
    wait_for(lambda: history.model.rowCount() > 0, 30, "the history")
    row = next((i for i, r in enumerate(history.model.records) if r.verdict == "NG"), 0)
    history.table.selectRow(row)
    wait_for(history.view.has_image, 10, "the history image")
    save("history")

    # live: replay the washer test images (good and defective, shuffled) as a 30 FPS camera
    replay = tmp / "replay"
    replay.mkdir()
    test_images = sorted((demo / "demo-data" / "washer" / "test").rglob("*.png"))
    for i, src in enumerate(test_images):
        shutil.copy(src, replay / f"{(i * 7) % len(test_images):03d}_{src.parent.name}.png")
    live = w.tab_widgets["live"]
    w.show_tab("live")
    live.set_source("folder", str(replay), fps=30)
    live.start()
    wait_for(lambda: live.counts["inspected"] > 0, 120, "the first live verdict")
    lat: list[float] = []

    def probe() -> None:
        posted = time.perf_counter()
        QTimer.singleShot(0, lambda: lat.append((time.perf_counter() - posted) * 1e3))

    timer = QTimer()
    timer.timeout.connect(probe)
    timer.start(20)
    pump(args.live_seconds)
    timer.stop()
    shown, scored, dropped = live.rates_now()
    save("live")
    live.stop()
    print(f"live (replayed folder @ 30 FPS, {args.live_seconds:.0f} s): displayed {shown:.1f} FPS, "
          f"scoring {scored:.1f} FPS, {dropped} frames not scored, worst GUI latency {max(lat):.1f} ms "
          f"(p99 {sorted(lat)[int(len(lat) * 0.99) - 1]:.1f} ms over {len(lat)} probes)")

    w.show_tab("models")
    wait_for(lambda: w.tab_widgets["models"].table.rowCount() > 0, 60, "the model list")
    save("models")
    w.show_tab("settings")
    save("settings")

    from inspector.gui.theme import apply_theme
    apply_theme("dark")
    w.show_tab("live")
    live.start()
    wait_for(lambda: live.panel.banner.state in ("OK", "NG"), 60, "a live verdict (dark)")
    pump(1.5)
    save("live-dark")
    live.stop()
    apply_theme("light")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
