"""Side panel for one result: big banner, regions, heat legend, layer toggles, flag buttons."""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout,
                               QWidget)

from ...services.inspections import flag_allowed
from ..image_view import ImageView
from ..widgets.heat_legend import HeatLegend
from ..widgets.verdict_banner import VerdictBanner

FLAG_TEXT = {"false_reject": "flagged: false reject", "missed_defect": "flagged: missed defect", "": ""}


class ViewControls(QWidget):
    """Fit / 1:1 / zoom buttons and layer toggles for an ImageView."""

    def __init__(self, view: ImageView, heat: bool = True, dropped: bool = False,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for text, tip, fn in (("Fit", "Fit the image to the view (0)", view.fit),
                              ("1:1", "One image pixel per screen pixel (1)", view.one_to_one),
                              ("+", "Zoom in (+)", lambda: view.zoom_by(1.25)),
                              ("−", "Zoom out (-)", lambda: view.zoom_by(0.8))):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setMinimumWidth(36)
            b.clicked.connect(fn)
            lay.addWidget(b)
        lay.addSpacing(12)
        self.toggles: dict[str, QCheckBox] = {}
        for key, text in (("heat", "Heatmap"), ("outline", "Outline"), ("boxes", "Boxes && labels")):
            if key == "heat" and not heat:
                continue
            cb = QCheckBox(text)
            cb.setChecked(True)
            cb.toggled.connect(lambda on, k=key: view.set_layer_visible(k, on))
            lay.addWidget(cb)
            self.toggles[key] = cb
        if dropped:  # candidates the engine's filter dropped (IAP-AS): off by default
            cb = QCheckBox("Show filtered boxes")
            cb.setObjectName("showDropped")
            cb.setToolTip("Draw faintly the boxes the size/object filter dropped, with why")
            cb.setChecked(view.visible["dropped"])
            cb.toggled.connect(lambda on: view.set_layer_visible("dropped", on))
            lay.addWidget(cb)
            self.toggles["dropped"] = cb
        lay.addStretch(1)


class ResultPanel(QWidget):
    """Banner + details + legend + flag buttons; `on_flag(flag)` sets/clears a flag."""

    def __init__(self, on_flag: Optional[Callable[[str], None]] = None, legend: bool = True,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.banner = VerdictBanner(min_height=120)
        self.details = QLabel()
        self.details.setObjectName("resultDetails")
        self.details.setWordWrap(True)
        self.details.setMinimumHeight(40)
        self.legend = HeatLegend()
        self.legend.setVisible(legend)
        self.flag_fr = QPushButton("False reject (F)")
        self.flag_fr.setToolTip("This part is good: the NG verdict was wrong")
        self.flag_md = QPushButton("Missed defect (M)")
        self.flag_md.setToolTip("This part is defective: the OK verdict was wrong")
        for b, flag in ((self.flag_fr, "false_reject"), (self.flag_md, "missed_defect")):
            b.setCheckable(True)
            b.setMinimumHeight(36)
            if on_flag:
                b.clicked.connect(lambda checked, f=flag: on_flag(f if checked else ""))
        flags = QHBoxLayout()
        flags.addWidget(self.flag_fr)
        flags.addWidget(self.flag_md)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.banner)
        lay.addWidget(self.details)
        lay.addWidget(self.legend)
        lay.addLayout(flags)
        self.verdict = ""
        self.set_flag(None)

    def current_flag(self) -> str:
        return "false_reject" if self.flag_fr.isChecked() else "missed_defect" if self.flag_md.isChecked() else ""

    def set_flag(self, flag: Optional[str], verdict: str = "") -> None:
        """None: nothing to flag (no recorded result). Only the flag that can correct `verdict`
        is enabled (false reject on NG, missed defect on OK); a set flag can always be cleared."""
        if verdict:
            self.verdict = verdict
        for b, f in ((self.flag_fr, "false_reject"), (self.flag_md, "missed_defect")):
            b.setEnabled(flag is not None and (flag == f or flag_allowed(f, self.verdict)))
            b.setChecked(flag == f)
