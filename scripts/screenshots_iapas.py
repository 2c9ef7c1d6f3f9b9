"""Screenshots of IAP-AS in the window: the Products tab of a product with tags and no
references, and the Inspect tab with the filtered boxes shown.

The detector and SAM are the tiny random models of tests/iapas_fixtures.py (real on-disk
formats), so the boxes are meaningless; the pictures show what the window does with them.
    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/screenshots_iapas.py [IMAGE]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from shot_kit import ShotKit, run_isolated  # noqa: E402
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image", nargs="?", type=Path, help="the image to inspect (default: a random one)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--size", default="1366x768")
    args = ap.parse_args()
    def with_tiny_models(tmp: Path) -> int:
        from iapas_fixtures import build_iapas_models

        tiny = build_iapas_models(tmp / "models")
        os.environ["INSPECTOR_MANIFEST"] = str(tiny.manifest)
        os.environ["INSPECTOR_MODELS_DIR"] = str(tiny.models_dir)
        return shoot(args, tmp)

    return run_isolated("inspector-iapas-shots-", with_tiny_models)


def shoot(args: argparse.Namespace, tmp: Path) -> int:
    import numpy as np
    from PIL import Image

    from iapas_fixtures import GDINO_ID, SAM_ID
    from inspector.gui.app import create_window
    from inspector.services.products import update_product
    from inspector.storage.workspace import init_workspace

    kit = ShotKit(args.out, settle=0.5)
    pump, wait_for = kit.pump, kit.wait_for

    def save(name: str) -> None:
        kit.save(w, name)

    ws_root = tmp / "ws"
    init_workspace(ws_root).close()
    w = create_window(ws_root)
    w.resize(*(int(v) for v in args.size.split("x")))
    w.show()
    pump(0.5)
    products = w.tab_widgets["products"]
    products.create_product("bottle", "glass bottle, seen from above",
                            {"object": "bottle", "material": "glass", "colour": "brown"}, ["crack"])
    update_product(w.state.workspace, "bottle", engine="iapas",
                   engine_settings={"detector_id": GDINO_ID, "sam_id": SAM_ID, "llm": "", "work_size": 96,
                                    "box_threshold": 0.05})
    w.state.notify_updated()
    w.show_tab("products")
    products.fit()
    wait_for(lambda: not products.fit_progress.busy(), 120, "the fit")
    wait_for(lambda: "(fitted)" in products.iapas.prompt_head.text(), 30, "the prompt list")
    save("iapas-products")

    image = args.image
    if image is None:
        image = tmp / "part.png"
        Image.fromarray(np.random.default_rng(2).integers(0, 256, (300, 450, 3), dtype=np.uint8)).save(image)
    inspect = w.tab_widgets["inspect"]
    w.show_tab("inspect")
    inspect.inspect([image])
    wait_for(lambda: inspect.entries and not inspect.progress.busy(), 300, "the inspection")
    wait_for(inspect.view.has_image, 10, "the inspected image")
    inspect.controls.toggles["dropped"].setChecked(True)
    print(f"{len(inspect.entries[0].boxes)} kept region(s), {len(inspect.entries[0].dropped)} filtered box(es)")
    save("iapas-inspect")
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
