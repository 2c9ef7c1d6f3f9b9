"""Shared fixtures and helpers of the GUI tests (imported by the other test_gui_* modules).

Data comes from the demo generator (256 px); settings are redirected to tmp_path; each window
is closed at the end of its test, which cancels and waits for its workers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

# Off screen, the GUI tests run on a 1366x768 laptop screen (the smallest the window must fit)
# instead of the offscreen platform's 800x800; set before pytest-qt creates the QApplication.
if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={Path(__file__).with_name('laptop-screen.json')}"

__all__ = ["FAST", "SIZE", "demo_data", "fitted_template", "fitted_ws", "make_product_ws", "make_window",
           "max_gui_latency_ms", "product_ws", "settings_file", "wait_until"]

SIZE = 256
# standalone engine settings that fit in seconds on a small CPU (the tests check the GUI, not accuracy)
FAST = {"stride": 8, "memory_size": 1024, "max_candidates": 8192}


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """MVTec-layout demo folders for 'washer' (small counts: 10 train, 4 good + 6 bad test)."""
    from inspector.generate.procedural import write_demo_dataset

    root = tmp_path_factory.mktemp("demo-data")
    write_demo_dataset(root, "washer", n_train=10, n_test_good=4, n_test_bad=6, size=SIZE, seed=3)
    return root / "washer"


@pytest.fixture
def settings_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "settings.ini"
    monkeypatch.setenv("INSPECTOR_SETTINGS", str(path))
    monkeypatch.setenv("INSPECTOR_WORKSPACE", str(tmp_path / "default-ws"))
    return path


@pytest.fixture
def make_window(qtbot, settings_file):
    """make_window(workspace=None, open_demo=False) -> shown MainWindow (closed after the test)."""
    from PySide6.QtWidgets import QApplication

    from inspector.gui.app import create_window

    windows = []

    def make(workspace: Path | None = None, open_demo: bool = False):
        w = create_window(workspace, open_demo, settings_file=settings_file)
        qtbot.addWidget(w)
        w.resize(1280, 800)
        w.show()
        w.activateWindow()  # shortcuts need the active window
        qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()


def make_product_ws(root: Path, demo_data: Path, fit: bool = False) -> Path:
    """Workspace at `root` with product 'washer' (the demo references, FAST settings)."""
    from inspector.services.engine_state import fit_product
    from inspector.services.products import create_product, update_product
    from inspector.services.references import add_references
    from inspector.storage.workspace import init_workspace

    ws = init_workspace(root)
    try:
        create_product(ws, "washer", "steel washer", {"material": "steel", "object": "washer"}, ["scratch", "dent"])
        update_product(ws, "washer", engine_settings=dict(FAST))
        add_references(ws, "washer", [demo_data / "train" / "good"])
        if fit:
            fit_product(ws, "washer")
    finally:
        ws.close()
    return root


@pytest.fixture
def product_ws(tmp_path, demo_data) -> Path:
    """A workspace with product 'washer' holding the demo references (not fitted)."""
    return make_product_ws(tmp_path / "ws", demo_data)


@pytest.fixture(scope="session")
def fitted_template(tmp_path_factory, demo_data) -> Path:
    return make_product_ws(tmp_path_factory.mktemp("fitted") / "ws", demo_data, fit=True)


@pytest.fixture
def fitted_ws(tmp_path, fitted_template) -> Path:
    """A fresh copy of a workspace whose 'washer' is fitted (fitting once per session saves minutes)."""
    import shutil

    return Path(shutil.copytree(fitted_template, tmp_path / "ws"))


def wait_until(qtbot, condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    qtbot.waitUntil(condition, timeout=int(timeout_s * 1000))


def max_gui_latency_ms(qtbot, duration_s: float, period_ms: int = 20) -> float:
    """Worst delay (ms) between posting a zero-timer and the GUI thread running it."""
    from PySide6.QtCore import QTimer

    worst = 0.0
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        posted = time.perf_counter()
        ran: list[float] = []
        QTimer.singleShot(0, lambda: ran.append(time.perf_counter()))
        qtbot.waitUntil(lambda: bool(ran), timeout=5000)
        worst = max(worst, (ran[0] - posted) * 1000)
        qtbot.wait(period_ms)
    return worst
