"""Save the Live tab in both modes (docs/screenshots/live-continuous.png, live-triggered.png).

Run under a display (or Xvfb), at the screen sizes that matter:
    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/screenshots_live.py
    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshots_live.py \
        --out docs/screenshots/1920x1080 --size 1920x1040

Continuous: a replayed folder of the demo's washer test images at 30 FPS. Triggered: a hot
folder into which the script drops three parts (the last one defective), one part each.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from shot_kit import ShotKit, run_isolated  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--size", default="", help="force a window size, WxH (default: the app's own)")
    ap.add_argument("--settings-shot", type=Path, help="also save the Settings tab here (to check it)")
    ap.add_argument("--opcua", default="", metavar="PORT",
                    help="serve OPC UA on this port in the triggered run (the status line shows the link)")
    args = ap.parse_args()
    return run_isolated("inspector-live-shots-", lambda tmp: shoot(args, tmp))


def shoot(args: argparse.Namespace, tmp: Path) -> int:

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
    avail, frame = w.screen().availableGeometry(), w.frameGeometry()
    print(f"screen available {avail.width()}x{avail.height()}, window frame {frame.width()}x{frame.height()}")
    if not avail.contains(frame):
        raise SystemExit("the window does not fit the screen")
    demo = tmp / "demo-workspace"
    w.open_demo(demo)
    wait_for(lambda: w.state.workspace is not None, 900, "the demo workspace")
    w.state.select_product("washer")
    test_images = sorted((demo / "demo-data" / "washer" / "test").rglob("*.png"))
    live = w.tab_widgets["live"]
    w.show_tab("live")

    replay = tmp / "replay"
    replay.mkdir()
    for i, src in enumerate(test_images):
        shutil.copy(src, replay / f"{(i * 7) % len(test_images):03d}_{src.parent.name}.png")
    live.set_mode("continuous")
    live.set_source("folder", str(replay), fps=30)
    live.start()
    wait_for(lambda: live.counts["inspected"] > 3, 120, "live verdicts")
    pump(3.0)
    save("live-continuous")
    live.stop()

    hot = tmp / "hot"
    hot.mkdir()
    live.set_mode("triggered")
    w.state.settings.setValue("line/opcua", args.opcua)  # "" = no PLC link
    live.reset_counts()
    live.set_source("hotfolder", str(hot))
    live.start()
    wait_for(lambda: live.session is not None and live.session.ready, 120, "the triggered station")
    good = [p for p in test_images if p.parent.name == "good"]
    bad = [p for p in test_images if p.parent.name != "good"]
    for i, src in enumerate(good[:2] + bad[:1]):
        staged = tmp / f"part{i:03d}.png"
        shutil.copy(src, staged)
        staged.rename(hot / staged.name)  # a whole file appears, as a line camera writes it
        wait_for(lambda n=i + 1: live.parts_shown >= n, 60, f"part {i + 1}")
    pump(0.5)
    save("live-triggered")
    live.stop()
    live.shutdown()
    if args.settings_shot:
        w.show_tab("settings")
        pump(0.3)
        w.grab().save(str(args.settings_shot))
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
