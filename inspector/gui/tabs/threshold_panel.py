"""Threshold panel: histogram of good-image scores, the threshold line and the FRR control.

Moving the slider previews the threshold at once (computed here from the stored good
scores); the new target is saved shortly after the slider stops, in a worker.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ...core.thresholds import expected_frr, threshold_for_frr
from ...services.records import ProductInfo
from ..widgets.histogram import ScoreHistogram

UNCALIBRATED_NOTE = ("uncalibrated: default threshold — add 5-20 good images and refit to set it at the "
                     "false-reject target")
EMPTY_HISTOGRAM = "Fit the product to see its good-image scores"
FRR_STEPS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2]


def format_rate(frr: float) -> str:
    return f"{frr * 100:.1f}%" if frr < 0.1 else f"{frr * 100:.0f}%"


def nearest_step(frr: float) -> int:
    return min(range(len(FRR_STEPS)), key=lambda i: abs(FRR_STEPS[i] - frr))


class ThresholdPanel(QGroupBox):
    """Shows the product's calibration; calls `on_commit(target_frr)` when the user settles."""

    def __init__(self, on_commit: Callable[[float], None], parent: Optional[QWidget] = None) -> None:
        super().__init__("Threshold", parent)
        self.on_commit = on_commit
        self.hist = ScoreHistogram()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("frrSlider")
        self.slider.setRange(0, len(FRR_STEPS) - 1)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.target_label = QLabel()
        self.target_label.setMinimumWidth(70)
        self.expected = QLabel()
        self.expected.setObjectName("expectedFrr")
        self.expected.setWordWrap(True)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #a15c00;")
        row = QHBoxLayout()
        row.addWidget(QLabel("Strict"))
        row.addWidget(self.slider, 1)
        row.addWidget(QLabel("Lenient"))
        lay = QVBoxLayout(self)
        lay.addWidget(self.hist, 1)
        lay.addWidget(QLabel("Target false-reject rate (good parts called NG):"))
        lay.addLayout(row)
        lay.addWidget(self.target_label)
        lay.addWidget(self.expected)
        lay.addWidget(self.note)
        self.scores: list[float] = []
        self.uncalibrated = False
        self._commit_timer = QTimer(self)
        self._commit_timer.setSingleShot(True)
        self._commit_timer.setInterval(400)
        self._commit_timer.timeout.connect(self._commit)
        self.slider.valueChanged.connect(self._preview)
        self.set_product(None, None)

    def target(self) -> float:
        return FRR_STEPS[self.slider.value()]

    def set_product(self, info: Optional[ProductInfo], calibration,  # noqa: ANN001
                    suspects: Sequence[str] = ()) -> None:
        """Show `info`'s calibration (None: not fitted); `suspects`: names of the outlier
        references still in the product."""
        self._commit_timer.stop()
        self.scores = list(calibration.good_scores) if calibration is not None else []
        self.slider.blockSignals(True)
        self.slider.setValue(nearest_step(info.target_frr if info else 0.01))
        self.slider.blockSignals(False)
        self.slider.setEnabled(info is not None)
        threshold = info.threshold if info is not None else None
        method = getattr(calibration, "method", "")
        self.uncalibrated = method == "uncalibrated"  # fitted with no good images (IAP-AS)
        self.hist.empty_text = ("No good images scored: the threshold is a default"
                                if self.uncalibrated else EMPTY_HISTOGRAM)
        self.hist.set_data(self.scores, threshold if self.scores else None)
        self._describe(threshold)
        if self.uncalibrated:
            note = UNCALIBRATED_NOTE
        elif method == "self-augmented":
            note = ("Calibrated on re-shots of a single reference: the threshold is a rough "
                    "guide. Add more good images and fit again.")
        elif suspects:
            many = len(suspects) > 1
            note = (f"Check {'these reference images' if many else 'this reference image'}: "
                    f"{', '.join(suspects)}. Held out, {'they' if many else 'it'} scored far above the "
                    f"others, so {'they were' if many else 'it was'} left out of the threshold. Remove "
                    f"{'them if they are not good parts' if many else 'it if it is not a good part'}.")
        else:
            note = ""
        self.note.setText(note)
        self.note.setVisible(bool(self.note.text()))

    def _describe(self, threshold: Optional[float]) -> None:
        frr = self.target()
        self.target_label.setText(f"<b>{format_rate(frr)}</b>")
        if self.uncalibrated and threshold is not None:
            self.expected.setText(f"Threshold <b>{threshold:.2f}</b> (default; no good images to measure "
                                  "the false-reject rate on).")
            return
        if threshold is None or not self.scores:
            self.expected.setText("Not fitted yet: press “Fit & calibrate” to set the threshold "
                                  "from the good images.")
            return
        seen = expected_frr(self.scores, threshold)
        n = len(self.scores)
        self.expected.setText(
            f"Threshold <b>{threshold:.2f}</b>: expected to reject about {format_rate(frr)} of good parts "
            f"(on the {n} held-out good images: {round(seen * n)} of {n}, {format_rate(seen)}).")

    def _preview(self) -> None:
        threshold = threshold_for_frr(self.scores, self.target()) if self.scores else None
        if threshold is not None:
            self.hist.set_threshold(threshold)
        self._describe(threshold)
        self._commit_timer.start()

    def _commit(self) -> None:
        self.on_commit(self.target())
