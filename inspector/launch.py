"""Open the desktop window (Qt is imported only here, lazily, via inspector.gui)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

from .core.errors import InspectorError


def has_display() -> bool:
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform in ("offscreen", "minimal"):
        return False  # nothing a person could see
    if sys.platform != "linux" or platform:
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_window(workspace: Optional[Path] = None, open_demo: bool = False) -> int:
    if not has_display():
        raise InspectorError("no display to open the window on (DISPLAY is not set); run the "
                             "headless commands instead, e.g. `inspector demo --headless`")
    from .gui.app import run

    return run(workspace, open_demo=open_demo)
