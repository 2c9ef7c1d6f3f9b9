"""What every tab shares: the open workspace, the selected product, settings and device.

Tabs read from here and listen to its signals; they never hold their own copy of the
workspace. Quick database reads (a product row, the reference list) happen in the GUI
thread; anything that touches image files or engines runs in a worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, QSettings, Signal

from ..core.errors import InspectorError
from ..services import products as product_svc
from ..services.records import ProductInfo
from ..storage.workspace import Workspace
from .settings import get_str


class AppState(QObject):
    workspace_changed = Signal()        # a workspace was opened or closed
    products_changed = Signal()         # a product was added, renamed or deleted
    product_changed = Signal(str)       # the selected product changed ("" = none)
    product_updated = Signal(str)       # the selected product's fields/state changed
    device_resolved = Signal(str, str)  # device id ("cpu"/"cuda"), words for the status bar

    def __init__(self, settings: QSettings) -> None:
        super().__init__()
        self.settings = settings
        self.workspace: Optional[Workspace] = None
        self.product: str = ""
        self.device: str = "cpu"  # resolved; "cpu" until the worker has looked
        self.device_text: str = "Device: checking…"

    # --- workspace -------------------------------------------------------------------------
    def set_workspace(self, ws: Optional[Workspace]) -> None:
        if self.workspace is not None and self.workspace is not ws:
            self.workspace.close()
        self.workspace = ws
        self.product = ""
        if ws is not None:
            self.settings.setValue("workspace", str(ws.root))
        self.workspace_changed.emit()
        self.products_changed.emit()
        names = self.product_names()
        last = get_str(self.settings, "product")
        self.select_product(last if last in names else (names[0] if names else ""))

    # --- products --------------------------------------------------------------------------
    def product_names(self) -> list[str]:
        if self.workspace is None:
            return []
        return [p.name for p in product_svc.list_products(self.workspace)]

    def select_product(self, name: str) -> None:
        if name == self.product:
            return
        self.product = name
        if name:
            self.settings.setValue("product", name)
        self.product_changed.emit(name)

    def product_info(self) -> Optional[ProductInfo]:
        if self.workspace is None or not self.product:
            return None
        try:
            return product_svc.get_product(self.workspace, self.product)
        except InspectorError:
            return None

    def notify_updated(self) -> None:
        self.product_updated.emit(self.product)

    def notify_products_changed(self, select: Optional[str] = None) -> None:
        self.products_changed.emit()
        names = self.product_names()
        target = select if select is not None else self.product
        if target not in names:
            target = names[0] if names else ""
        if target == self.product:
            self.product_changed.emit(target)  # the row may be new under the same name
        else:
            self.select_product(target)

    def calibration(self, info: Optional[ProductInfo] = None):  # noqa: ANN201 - Calibration | None
        """The selected product's stored calibration, or None when not fitted."""
        from ..services.engine_state import get_calibration

        info = info or self.product_info()
        if info is None or self.workspace is None:
            return None
        return get_calibration(self.workspace, info.name)

    def fitted_text(self, info: Optional[ProductInfo] = None) -> str:
        """"Standalone (no weights) · fitted v3" / "… · not fitted" / "… · refit needed (v3 is out of date)"."""
        from ..engines.registry import ENGINES
        from ..services.engine_state import is_stale

        info = info or self.product_info()
        if info is None or self.workspace is None:
            return ""
        spec = ENGINES.get(info.engine)
        title = spec.title if spec else info.engine
        if not info.state_path:
            return f"{title} · not fitted"
        try:
            stale = is_stale(self.workspace, info.name)
        except InspectorError:
            stale = True
        if stale:
            return f"{title} · refit needed (v{info.state_version} predates the current references)"
        return f"{title} · fitted v{info.state_version}"

    # --- settings that services take ---------------------------------------------------------
    def station(self) -> str:
        return get_str(self.settings, "station")

    def operator(self) -> str:
        return get_str(self.settings, "operator")

    def device_setting(self) -> str:
        return get_str(self.settings, "device") or "auto"

    def set_device(self, device: str, text: str) -> None:
        self.device, self.device_text = device, text
        self.device_resolved.emit(device, text)

    def workspace_root(self) -> Optional[Path]:
        return self.workspace.root if self.workspace is not None else None
