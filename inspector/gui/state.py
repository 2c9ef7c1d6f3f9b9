"""What every tab shares: the open workspace, the selected product, settings and device.

Tabs read from here and listen to its signals; they never hold their own copy of the
workspace. Quick database reads (a product row, the reference list) happen in the GUI
thread; anything that touches image files or engines runs in a worker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, QSettings, Signal

from ..core.errors import InspectorError
from ..services import products as product_svc
from ..services.records import ProductInfo
from ..storage.workspace import Workspace
from .settings import get_str


def engine_title(engine_id: str) -> str:
    from ..engines.registry import ENGINES

    spec = ENGINES.get(engine_id)
    return spec.title if spec else engine_id


class AppState(QObject):
    workspace_changed = Signal()        # a workspace was opened or closed
    products_changed = Signal()         # a product was added, renamed or deleted
    product_changed = Signal(str)       # the selected product changed ("" = none)
    product_updated = Signal(str)       # the selected product's fields/state changed
    device_resolved = Signal(str, str)  # device id ("cpu"/"cuda"), words for the status bar
    role_changed = Signal(str)          # "operator" | "engineer" | "" (the workspace runs without roles)

    def __init__(self, settings: QSettings) -> None:
        super().__init__()
        self.settings = settings
        self.workspace: Optional[Workspace] = None
        self.product: str = ""
        self.device: str = "cpu"  # resolved; "cpu" until the worker has looked
        self.device_text: str = "Device: checking…"
        self.role: str = ""
        self.credential: Optional[str] = None  # the engineer password while unlocked (to replace it)

    # --- workspace -------------------------------------------------------------------------
    def set_workspace(self, ws: Optional[Workspace]) -> None:
        if self.workspace is not None and self.workspace is not ws:
            self.workspace.close()
        self.workspace = ws
        self.product = ""
        if ws is not None:
            self.settings.setValue("workspace", str(ws.root))
        self._set_role("operator" if self.roles_on() else "")  # a station opens locked
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

    def fitted_meta(self, info: Optional[ProductInfo] = None) -> Optional[dict]:
        """meta.json of the fitted state in use (engine, engine_version, references), or None."""
        info = info or self.product_info()
        if info is None or self.workspace is None or not info.state_path:
            return None
        try:
            meta = json.loads((self.workspace.abs_path(info.state_path) / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    def suspect_references(self, refs: list, info: Optional[ProductInfo] = None,
                           calibration=None) -> list:  # noqa: ANN001 - ReferenceInfo list, Calibration
        """References the calibration held out as outliers, still in the product (ReferenceInfo).

        The calibration stores indices in the fitted reference order; meta.json maps them to
        sha256, so a reference removed since the fit drops out of the warning.
        """
        info = info or self.product_info()
        calibration = calibration if calibration is not None else self.calibration(info)
        meta = self.fitted_meta(info) or {}
        fitted = meta.get("references", [])
        by_sha = {r.sha256: r for r in refs}
        indices = getattr(calibration, "suspect_references", None) or []
        return [by_sha[fitted[i]] for i in indices if 0 <= i < len(fitted) and fitted[i] in by_sha]

    def fitted_text(self, info: Optional[ProductInfo] = None) -> str:
        """What inspections use now: "Standalone (no weights) · fitted v3" / "… · not fitted" /
        "… · refit needed (…)"; the engine named is the fitted state's, not only the recipe's."""
        from ..services.engine_state import draft_version, stale_reason

        info = info or self.product_info()
        if info is None or self.workspace is None:
            return ""
        chosen = engine_title(info.engine)
        if not info.state_path:
            return f"{chosen} · not fitted"
        meta = self.fitted_meta(info) or {}
        in_use = meta.get("engine", info.engine)
        if in_use != info.engine:
            return (f"{engine_title(in_use)} · fitted v{info.state_version} · refit needed to switch "
                    f"to {chosen}")
        try:
            stale = stale_reason(self.workspace, info.name)
        except InspectorError:
            stale = "the fitted state is unreadable"
        draft = draft_version(self.workspace, info)
        if draft is not None:
            return f"{chosen} · fitted v{info.state_version} (published) · draft pending: v{draft} waits for Publish"
        if stale:
            return f"{chosen} · fitted v{info.state_version} (published) · draft pending: {stale}, fit a draft"
        return f"{chosen} · fitted v{info.state_version}"

    # --- roles ------------------------------------------------------------------------------------
    def roles_on(self) -> bool:
        from ..services.roles import roles_enabled

        return self.workspace is not None and roles_enabled(self.workspace)

    def can_edit(self) -> bool:
        """Recipes, references, thresholds, engines and settings: not in operator mode."""
        return self.role != "operator"

    def actor(self):  # noqa: ANN201 - services.audit.Actor
        import socket

        from ..services.audit import Actor

        default = Actor()
        return Actor(role=self.role, user=self.operator() or default.user,
                     station=self.station() or socket.gethostname())

    def _set_role(self, role: str) -> None:
        from ..services.audit import set_default_actor

        self.role = role
        if role != "engineer":
            self.credential = None
        set_default_actor(self.actor())  # changes made through services name this role and person
        self.role_changed.emit(role)

    def unlock(self, password: str) -> bool:
        """Engineer mode after the right password; False (still operator) otherwise."""
        from ..services.roles import check_password

        if self.workspace is None or not check_password(self.workspace, password):
            return False
        self._set_role("engineer")
        self.credential = password
        return True

    def lock(self) -> None:
        self._set_role("operator" if self.roles_on() else "")

    def refresh_role(self) -> None:
        """After roles were switched on or off: on -> engineer stays engineer, else operator."""
        on = self.roles_on()
        self._set_role(("engineer" if self.role == "engineer" else "operator") if on else "")

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
