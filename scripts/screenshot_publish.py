"""Save docs/screenshots/draft-publish.png: the Products tab with a draft pending beside the
published recipe (engineer mode), the way an engineer sees it after refitting on new references;
and threshold-score.png: its threshold panel previewing a typed fixed score.

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/screenshot_publish.py [--out DIR]
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

from screenshot_audit import engineer_window, save_grab  # noqa: E402


def make_workspace(root: Path, data: Path) -> None:
    """'washer M8' published as v1, then a reference removed and refitted: draft v2 pending."""
    from screenshot_audit import make_workspace as audited  # the same audited workspace

    from inspector.services.audit import Actor
    from inspector.services.engine_state import fit_product
    from inspector.storage.workspace import open_workspace

    audited(root, data)
    ws = open_workspace(root)
    fit_product(ws, "washer M8", actor=Actor(role="engineer", user="M. Keller", station="Line 3 / Station B"))
    ws.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="inspector-publish-shot-"))
    os.environ["INSPECTOR_SETTINGS"] = str(tmp / "settings.ini")  # never touch the user's settings
    try:
        make_workspace(tmp / "ws", tmp / "data")
        w, pump = engineer_window(tmp / "ws")
        w.show_tab("products")
        tab = w.tab_widgets["products"]
        pump(1.5)
        assert tab.recipe.draft is not None, "no draft pending"
        save_grab(w, args.out / "draft-publish.png")
        panel = tab.threshold
        panel.score_input.setValue(round(sorted(panel.scores)[-2] * 0.995, 2))  # rejects the top two goods
        parent = panel.parentWidget()
        while parent is not None and not hasattr(parent, "ensureWidgetVisible"):
            parent = parent.parentWidget()
        if parent is not None:  # the left column scrolls: bring the panel into view
            parent.ensureWidgetVisible(panel.score_input, 0, 200)
        pump(0.5)
        save_grab(w, args.out / "threshold-score.png")
        w.close()
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
