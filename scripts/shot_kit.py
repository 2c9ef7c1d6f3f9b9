"""What every screenshot script needs: run Qt for a while, wait for a condition, save a window's PNG.

    kit = ShotKit(out_dir); kit.pump(0.5); kit.wait_for(lambda: ..., 60, "the fit"); kit.save(window, "name")
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable


class ShotKit:
    def __init__(self, out: Path, settle: float = 0.3) -> None:
        import sys

        from PySide6.QtWidgets import QApplication

        self.app = QApplication.instance() or QApplication(sys.argv[:1])
        self.out, self.settle = Path(out), settle
        self.out.mkdir(parents=True, exist_ok=True)

    def pump(self, seconds: float) -> None:
        """Run the Qt event loop for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.005)

    def wait_for(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise SystemExit(f"timed out waiting for {what}")
            self.pump(0.02)

    def save(self, widget, name: str) -> Path:  # noqa: ANN001 - any QWidget
        """Let the window settle, grab it to <out>/<name>.png and say where."""
        self.pump(self.settle)
        path = self.out / f"{name}.png"
        widget.grab().save(str(path))
        print(f"saved {path}")
        return path


def run_isolated(prefix: str, shoot: Callable[[Path], int]) -> int:
    """Run `shoot(tmp)` with a fresh temp folder holding the settings file and the models folder
    (never the user's), removed afterwards."""
    import os
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["INSPECTOR_SETTINGS"] = str(tmp / "settings.ini")
    os.environ.setdefault("INSPECTOR_MODELS_DIR", str(tmp / "models"))
    try:
        return shoot(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
