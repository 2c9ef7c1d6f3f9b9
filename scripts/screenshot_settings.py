"""Save docs/screenshots/settings-line-links.png: the Settings tab with the PLC link set (MES off).

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/screenshot_settings.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from shot_kit import ShotKit, run_isolated  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    return run_isolated("inspector-settings-shot-", lambda tmp: shoot(args, tmp))


def shoot(args: argparse.Namespace, tmp: Path) -> int:
    from inspector.gui.app import create_window

    kit = ShotKit(args.out)
    w = create_window(tmp / "Line 3 workspace")  # a new, empty workspace: the tab needs no product
    w.show()
    kit.pump(0.5)
    if not w.screen().availableGeometry().contains(w.frameGeometry()):
        raise SystemExit("the window does not fit the screen")
    w.show_tab("settings")
    tab = w.tab_widgets["settings"]
    for field, text in ((tab.station, "Line 3 / Station B"), (tab.operator, "A. Novak"),
                        (tab.opcua, "4840")):  # MES left blank: off, its placeholder shows the form
        field.setText(text)
        field.editingFinished.emit()  # saved as the operator would leave the field
    if any(e.isVisible() for e in tab.link_errors.values()):
        raise SystemExit("the example addresses were refused")
    kit.save(w, "settings-line-links")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
