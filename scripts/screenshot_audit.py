"""Save docs/screenshots/audit.png: History › Audit after a few engineer changes on a roles-on station.

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/screenshot_audit.py [--out DIR]
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
FAST = {"stride": 8, "memory_size": 1024, "max_candidates": 8192}  # fits in seconds on a small CPU


def make_workspace(root: Path, data: Path) -> None:
    """A 'washer' recipe changed the way a line engineer would, with roles on."""
    from inspector.generate.procedural import write_demo_dataset
    from inspector.services import roles
    from inspector.services.audit import Actor
    from inspector.services.engine_state import fit_product, set_target_frr
    from inspector.services.products import create_product, update_product
    from inspector.services.references import add_references, list_references, remove_reference
    from inspector.storage.workspace import init_workspace

    write_demo_dataset(data, "washer", n_train=10, n_test_good=2, n_test_bad=2, size=256, seed=3)
    ws = init_workspace(root)
    setup = Actor(role="", user="it-admin", station="Line 3 / Station B")
    eng = Actor(role="engineer", user="M. Keller", station="Line 3 / Station B")
    roles.set_password(ws, "line3-eng", actor=setup)
    roles.set_roles_enabled(ws, True, setup)
    create_product(ws, "washer M8", "steel washer", {"material": "steel", "object": "washer"}, ["scratch"],
                   actor=eng)
    update_product(ws, "washer M8", actor=eng, engine_settings=dict(FAST))
    add_references(ws, "washer M8", [data / "washer" / "train" / "good"], actor=eng)
    fit_product(ws, "washer M8", actor=eng)
    update_product(ws, "washer M8", actor=eng, defect_words=["scratch", "dent", "crack"],
                   description="steel washer M8, zinc plated")
    set_target_frr(ws, "washer M8", 0.02, actor=eng)
    remove_reference(ws, "washer M8", list_references(ws, "washer M8")[0].id, actor=eng)
    ws.close()


def engineer_window(ws_root: Path):  # noqa: ANN201 - (window, pump)
    """The main window on `ws_root`, shown and unlocked in engineer mode; `pump(s)` runs Qt for s."""
    from PySide6.QtWidgets import QApplication

    from inspector.gui.app import create_window

    app = QApplication.instance() or QApplication(sys.argv[:1])

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)

    w = create_window(ws_root)
    w.state.settings.setValue("operator", "M. Keller")
    w.show()
    pump(0.5)
    assert w.state.unlock("line3-eng")
    return w, pump


def save_grab(w, path: Path, note: str = "") -> None:  # noqa: ANN001
    """Save the window as `path` and say how it fits the screen."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(path))
    frame, avail = w.frameGeometry(), w.screen().availableGeometry()
    print(f"saved {path}{note}; window frame {frame.width()}x{frame.height()}, "
          f"screen available {avail.width()}x{avail.height()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="inspector-audit-shot-"))
    os.environ["INSPECTOR_SETTINGS"] = str(tmp / "settings.ini")  # never touch the user's settings
    try:
        make_workspace(tmp / "ws", tmp / "data")
        w, pump = engineer_window(tmp / "ws")
        w.show_tab("history")
        hist = w.tab_widgets["history"]
        hist.views.setCurrentWidget(hist.audit)
        end = time.monotonic() + 10
        while hist.audit.model.rowCount() == 0 and time.monotonic() < end:
            pump(0.05)
        pump(0.5)
        save_grab(w, args.out / "audit.png", f" ({hist.audit.model.rowCount()} rows)")
        w.close()
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
