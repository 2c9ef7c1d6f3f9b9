"""One line saying which trained local detector the selected product has and whether inspections use it.

Shown in the Products, Inspect, Live and Training tabs; it follows the product picker and refreshes
on `product_updated`, which the Training tab emits after Activate / Roll back.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from ...core.errors import InspectorError
from ..state import AppState, engine_title

NONE_ACTIVE = "No local detector active — train and activate one in the Training tab"


def _metric(v: object) -> str:
    return "n/a" if not isinstance(v, (int, float)) or v != v else f"{v:.3f}"


def detector_text(state: AppState) -> str:
    """'' without a product; else the active detector (version, when trained, validation
    metrics) and whether inspect and Live score with it, or NONE_ACTIVE."""
    from ...services import training
    from ..tabs.history_model import local_time

    info = state.product_info()
    if info is None or state.workspace is None:
        return ""
    try:
        active = training.active_detector(state.workspace, info.name)
        in_use = training.detector_in_use(state.workspace, info.name)
    except InspectorError:
        return ""
    if active is None:
        return NONE_ACTIVE
    m = active.metrics.get("validation", {}).get("local", {})
    facts = (f"trained {local_time(active.created_at):%Y-%m-%d %H:%M} · validation I-AUROC "
             f"{_metric(m.get('i_auroc'))}, P-AUROC {_metric(m.get('p_auroc'))}, PRO {_metric(m.get('pro'))}")
    kind = "VLAD adapters" if active.base_engine == "vlad" else "Local detector"
    if in_use == active.version:
        return f"{kind} v{active.version} active, Inspect and Live use it · {facts}"
    meta = state.fitted_meta(info) or {}
    runs = f"detector v{in_use}" if in_use else engine_title(meta.get("engine", info.engine))
    return (f"{kind} v{active.version} active but not in use: inspections run {runs} — "
            f"activate v{active.version} again in the Training tab to use it · {facts}")


class DetectorLine(QLabel):
    """Word-wrapped label with `detector_text`, kept up to date from the shared state."""

    def __init__(self, state: AppState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setObjectName("detectorLine")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        state.product_changed.connect(self.refresh)
        state.product_updated.connect(self.refresh)
        state.workspace_changed.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args: object) -> None:
        self.setText(detector_text(self.state))
