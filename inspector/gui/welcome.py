"""First run: no workspace yet (or the last one is missing)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QVBoxLayout, QWidget

from ..core.progress import CancelFn, ProgressFn, check_cancel, report
from .widgets.progress_panel import ProgressPanel


# engine settings for the demo products (empty: the engine's defaults); tests set faster ones
DEMO_ENGINE_SETTINGS: dict = {}


def build_demo_workspace(root: Path, device: str = "cpu", progress: Optional[ProgressFn] = None,
                         cancel: Optional[CancelFn] = None):  # noqa: ANN201 - Workspace
    """Worker: render the demo products, add their references and fit both; returns the workspace."""
    from ..services.demo import create_demo_workspace
    from ..services.engine_state import fit_product, is_stale
    from ..services.products import update_product

    report(progress, 0, 0, "Rendering the demo images…")
    ws, folders = create_demo_workspace(root)
    try:
        names = list(folders)
        for i, name in enumerate(names):
            check_cancel(cancel)
            if not is_stale(ws, name):
                continue
            if DEMO_ENGINE_SETTINGS:
                update_product(ws, name, engine_settings=dict(DEMO_ENGINE_SETTINGS))

            def sub(done: int, total: int, msg: str, i: int = i) -> None:
                frac = done / total if total else 0.0
                report(progress, int((i + frac) * 100), 100 * len(names), f"{name}: {msg}")

            fit_product(ws, name, device=device, progress=sub, cancel=cancel, publish=True)  # the demo runs at once
        report(progress, 1, 1, "Demo ready")
    except BaseException:
        ws.close()
        raise
    return ws


class WelcomePage(QWidget):
    """Three ways in: the demo, a new workspace, an existing one."""

    def __init__(self, on_demo: Callable[[], None], on_create: Callable[[], None],
                 on_open: Callable[[], None], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        card = QFrame()
        card.setObjectName("welcomeCard")
        card.setFrameShape(QFrame.Shape.StyledPanel)
        card.setFixedWidth(600)
        title = QLabel("Inspector")
        f = title.font()
        f.setPointSizeF(f.pointSizeF() * 2.6)
        f.setBold(True)
        title.setFont(f)
        subtitle = QLabel("Visual quality inspection for the line: set up a product from a few good "
                          "images, then inspect folders or a live camera with an OK / NG verdict.")
        subtitle.setWordWrap(True)
        self.message = QLabel()
        self.message.setObjectName("welcomeMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #a15c00;")
        self.message.setVisible(False)
        self.demo_button = QPushButton("Open demo workspace")
        self.demo_button.setObjectName("demoButton")
        create = QPushButton("Create workspace…")
        open_ = QPushButton("Open workspace…")
        for b, fn in ((self.demo_button, on_demo), (create, on_create), (open_, on_open)):
            b.setMinimumHeight(48)
            bf = b.font()
            bf.setPointSizeF(bf.pointSizeF() * 1.2)
            b.setFont(bf)
            b.clicked.connect(fn)
        demo_note = QLabel("The demo makes two products (woven fabric, metal washer) with their good "
                           "images and test images, and fits them on this computer. Nothing is downloaded.")
        demo_note.setWordWrap(True)
        demo_note.setStyleSheet("color: palette(placeholder-text);")
        self.progress = ProgressPanel()
        cl = QVBoxLayout(card)
        cl.setContentsMargins(32, 32, 32, 32)
        cl.setSpacing(16)
        cl.addWidget(title)
        cl.addWidget(subtitle)
        cl.addWidget(self.message)
        cl.addWidget(self.demo_button)
        cl.addWidget(demo_note)
        cl.addWidget(self.progress)
        cl.addSpacing(8)
        cl.addWidget(create)
        cl.addWidget(open_)
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        lay.addWidget(card, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(2)

    def set_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))
