"""Save docs/screenshots/training_tab.png: the Training tab after a small run (run under Xvfb).

xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/training_screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from inspector.core.image_io import encode_png
    from inspector.generate.procedural import render_good
    from inspector.gui.app import create_window
    from inspector.services import products, references
    from inspector.storage.workspace import init_workspace

    tmp = Path(tempfile.mkdtemp(prefix="inspector-shot-"))
    ws = init_workspace(tmp / "ws")
    products.create_product(ws, "washer")
    products.update_product(ws, "washer", engine_settings={"resolution": 128, "memory_size": 1024})
    (tmp / "refs").mkdir()
    for i in range(8):
        (tmp / "refs" / f"{i}.png").write_bytes(encode_png(render_good("washer", np.random.default_rng(i), 128)))
    references.add_references(ws, "washer", [tmp / "refs"])
    ws.close()
    app = QApplication.instance() or QApplication(sys.argv)
    w = create_window(tmp / "ws", False, settings_file=tmp / "settings.ini")
    w.resize(1500, 950)
    w.show()
    tab = w.tab_widgets["training"]
    w.tabs.setCurrentWidget(tab)
    tab.extra_config = {"work_px": 64, "width": 4, "batch_size": 4}
    tab.epochs.setValue(5)
    tab.samples.setValue(24)
    tab.device.setCurrentIndex(tab.device.findData("cpu"))
    tab.start(resume=False)
    end = time.monotonic() + 900
    while (tab.busy() or tab.task is not None) and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(50):
        app.processEvents()
        time.sleep(0.02)
    out = ROOT / "docs" / "screenshots" / "training_tab.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(out))
    print(out)
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
