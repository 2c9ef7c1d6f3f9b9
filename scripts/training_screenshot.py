"""Save the Training tab after a small two-stage run (loss and validation curves, the comparison with
the untrained engine), then the Products and Inspect tabs once that detector is activated.

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/training_screenshot.py
    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/training_screenshot.py \
        --size 1920x1040 --out docs/screenshots/1920x1080

Writes training_tab.png, training-products.png and training-inspect.png (engineer mode, a
roles-on station). The product is the audited 'washer M8' of screenshot_audit.py, or with
`--real ../shared/data/real/magnetic_tile` an MVTec-layout category read in place (12 of its
train/good images as references, a few test images inspected; nothing is copied).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from screenshot_audit import engineer_window, make_workspace, save_grab  # noqa: E402

PRODUCT = "washer M8"
FAST = {"stride": 8, "memory_size": 1024, "max_candidates": 8192}  # fits in seconds on a small CPU


def real_workspace(root: Path, category: Path) -> tuple[str, list[Path]]:
    """A roles-on workspace with one product made from `category`; (its name, images to inspect)."""
    from inspector.services import roles
    from inspector.services.products import create_product, update_product
    from inspector.services.references import add_references
    from inspector.storage.workspace import init_workspace

    name = category.name.replace("_", " ")
    ws = init_workspace(root)
    roles.set_password(ws, "line3-eng")  # the password engineer_window unlocks with
    roles.set_roles_enabled(ws, True)
    create_product(ws, name, tags={"object": name})
    update_product(ws, name, engine_settings=dict(FAST))
    add_references(ws, name, sorted((category / "train" / "good").glob("*.png"))[:12])
    ws.close()
    tests = [sorted(d.glob("*.png"))[:2] for d in sorted((category / "test").iterdir()) if d.is_dir()]
    return name, [p for group in tests for p in group]


def wait(pump, done, seconds: float, what: str) -> None:  # noqa: ANN001
    end = time.monotonic() + seconds
    while not done():
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        pump(0.05)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--samples", type=int, default=160, help="samples per epoch of the rule-based stage")
    ap.add_argument("--size", help="window size WxH (default: what the window restores to on this screen)")
    ap.add_argument("--real", type=Path, help="an MVTec-layout category folder to make the product from")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="inspector-training-shot-"))
    os.environ["INSPECTOR_SETTINGS"] = str(tmp / "settings.ini")  # never touch the user's settings
    try:
        if args.real:
            product, to_inspect = real_workspace(tmp / "ws", args.real)
        else:
            make_workspace(tmp / "ws", tmp / "data")
            product, to_inspect = PRODUCT, [tmp / "data" / "washer" / "test"]
        w, pump = engineer_window(tmp / "ws")
        if args.size:
            w.resize(*(int(v) for v in args.size.split("x")))
        w.state.select_product(product)
        tab = w.tab_widgets["training"]
        w.show_tab("training")
        tab.stages.setCurrentIndex(1)  # rule-based, then high-quality (two-stage)
        tab.epochs.setValue(args.epochs)
        tab.samples.setValue(args.samples)
        tab.device.setCurrentIndex(tab.device.findData("cpu"))
        t0 = time.monotonic()
        tab.start(resume=False)
        wait(pump, lambda: not tab.busy() and tab.task is None, 900, "training")
        print(f"trained in {time.monotonic() - t0:.0f} s")
        tab.table.selectRow(tab.table.rowCount() - 1)
        tab.activate_selected()
        wait(pump, lambda: not tab.busy() and tab.task is None, 300, "activation")
        tab.table.selectRow(tab.table.rowCount() - 1)
        pump(0.5)
        save_grab(w, args.out / "training_tab.png", f" ({tab.active_label.text()[:40]}…)")

        w.show_tab("products")
        pump(1.0)
        save_grab(w, args.out / "training-products.png")

        w.show_tab("inspect")
        inspect = w.tab_widgets["inspect"]
        inspect.inspect(to_inspect)
        wait(pump, lambda: not inspect.progress.busy() and inspect.entries, 300, "inspection")
        bad = next((i for i, e in enumerate(inspect.entries) if e.verdict == "NG"), 0)
        inspect.select_entry(bad)
        pump(1.0)
        save_grab(w, args.out / "training-inspect.png", f" ({len(inspect.entries)} inspected)")
        w.close()
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
