"""Threshold panel: histogram of good-image scores, the threshold line and the FRR control, and
the recheck band around the threshold (borderline scores get RECHECK: a person decides).

Moving the slider or typing a false-reject % previews the threshold at once (computed here
from the stored good scores); nothing takes effect until Apply, which asks first and states the
expected false-reject rate. A typed fixed score is the other way to set it (kept across refits
of the same engine version), with its own Apply. The band previews on the histogram the same way
and has its own Apply. Keys and the wheel never move them without focus (ClickFocus).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (QDoubleSpinBox, QGroupBox, QHBoxLayout, QLabel, QMessageBox, QPushButton, QSlider,
                               QVBoxLayout, QWidget)

from ...core.thresholds import expected_frr, threshold_for_frr
from ...engines.detector import in_recheck_band
from ...services.engine_state import RECHECK_MAX, recheck_band
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


class _WheelOnlyWithFocus(QObject):
    """A wheel turned over an unfocused control must not move the production threshold."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Wheel and not obj.hasFocus():
            event.ignore()
            return True
        return False


class ThresholdPanel(QGroupBox):
    """Shows the product's calibration; calls `on_commit(target_frr)` after Apply is confirmed,
    `on_commit_score(score)` after the fixed score's Apply and `on_commit_band(band)` (a fraction of
    the threshold, 0 = off) after the band's Apply."""

    def __init__(self, on_commit: Callable[[float], None],
                 on_commit_band: Optional[Callable[[float], None]] = None, parent: Optional[QWidget] = None,
                 on_commit_score: Optional[Callable[[float], None]] = None) -> None:
        super().__init__("Threshold", parent)
        self.on_commit = on_commit
        self.on_commit_band = on_commit_band
        self.on_commit_score = on_commit_score
        self.hist = ScoreHistogram()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("frrSlider")
        self.slider.setRange(0, len(FRR_STEPS) - 1)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # no key moves it before it is clicked
        self._wheel_guard = _WheelOnlyWithFocus(self)
        self.slider.installEventFilter(self._wheel_guard)
        self.frr_input = self._spin("frrInput", FRR_STEPS[0] * 100, FRR_STEPS[-1] * 100, 2, 0.1)
        self.frr_input.setSuffix(" % false rejects")
        self.apply_button = self._apply_button("applyThreshold", self.ask_apply)
        self.target_label = QLabel()
        self.target_label.setMinimumWidth(70)
        self.expected = QLabel()
        self.expected.setObjectName("expectedFrr")
        self.expected.setWordWrap(True)
        self.score_input = self._spin("scoreInput", -1e6, 1e6, 4, 0.01)
        self.score_input.setToolTip("A threshold score of your own (NG at or above it). It stays when the "
                                    "product is fitted again with the same engine version.")
        self.score_button = self._apply_button("applyScore", self.ask_apply_score)
        self.band_input = self._spin("recheckBand", 0.0, RECHECK_MAX * 100, 1, 1.0)
        self.band_input.setPrefix("± ")
        self.band_input.setSuffix(" % of the threshold")
        self.band_input.setSpecialValueText("off")  # at 0
        self.band_input.setToolTip("Scores this close to the threshold get RECHECK (amber) instead of OK or NG: "
                                   "a person looks at the part. RECHECK is not NG.")
        self.band_button = self._apply_button("applyRecheckBand", self.ask_apply_band)
        self.band_note = QLabel()
        self.band_note.setObjectName("recheckNote")
        self.band_note.setWordWrap(True)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #a15c00;")
        row = QHBoxLayout()
        row.addWidget(QLabel("fewer false\nrejects"))
        row.addWidget(self.slider, 1)
        row.addWidget(QLabel("fewer missed\ndefects"))
        typed = QHBoxLayout()
        typed.addWidget(self.target_label)
        typed.addWidget(self.frr_input, 1)
        typed.addWidget(self.apply_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.hist, 1)
        lay.addWidget(QLabel("Target false-reject rate (good parts called NG):"))
        lay.addLayout(row)
        lay.addLayout(typed)
        lay.addWidget(self.expected)
        score_row = QHBoxLayout()
        score_row.addWidget(QLabel("Or a fixed score:"))
        score_row.addWidget(self.score_input, 1)
        score_row.addWidget(self.score_button)
        lay.addLayout(score_row)
        band_row = QHBoxLayout()
        band_row.addWidget(QLabel("Recheck band:"))
        band_row.addWidget(self.band_input, 1)
        band_row.addWidget(self.band_button)
        lay.addLayout(band_row)
        lay.addWidget(self.band_note)
        lay.addWidget(self.note)
        self.scores: list[float] = []
        self.uncalibrated = False
        self.applied = 0.01  # the product's stored target
        self.pending = 0.01  # what Apply would store
        self.applied_band = self.pending_band = 0.0  # the product's recheck band / what its Apply would store
        self.fixed = self.was_fixed = False  # the product's threshold is a fixed score (was, before a commit)
        self.applied_threshold: Optional[float] = None
        self.pending_score: Optional[float] = None  # a typed score being previewed (None: the target's)
        self.slider.valueChanged.connect(lambda v: self._set_pending(FRR_STEPS[v]))
        self.frr_input.valueChanged.connect(lambda v: self._set_pending(v / 100.0))
        self.band_input.valueChanged.connect(lambda v: self._set_pending_band(v / 100.0))
        self.score_input.valueChanged.connect(self._set_pending_score)
        self.set_product(None, None)

    def _spin(self, name: str, lo: float, hi: float, decimals: int, step: float) -> QDoubleSpinBox:
        """A number field that moves only with focus and takes a typed value when it is complete."""
        spin = QDoubleSpinBox()
        spin.setObjectName(name)
        spin.setRange(lo, hi)
        spin.setDecimals(decimals)
        spin.setSingleStep(step)
        spin.setKeyboardTracking(False)  # a half-typed number is no value
        spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        spin.installEventFilter(self._wheel_guard)
        return spin

    def _apply_button(self, name: str, ask: Callable[[], None]) -> QPushButton:
        button = QPushButton("Apply…")
        button.setObjectName(name)
        button.clicked.connect(ask)
        return button

    def target(self) -> float:
        return self.pending

    def _set_pending(self, frr: float) -> None:
        self.pending = frr
        self.pending_score = None
        for w, value in ((self.slider, nearest_step(frr)), (self.frr_input, frr * 100)):
            w.blockSignals(True)
            w.setValue(value)
            w.blockSignals(False)
        self._preview()

    def _set_pending_score(self, score: float) -> None:
        self.pending_score = score
        self.hist.set_threshold(score)
        self._describe(score)
        self._describe_band()

    def ask_apply_score(self) -> None:
        """The fixed score's Apply asks first, saying how many held-out good images it rejects."""
        score = self.pending_score
        if score is None or (self.fixed and abs(score - (self.applied_threshold or 0.0)) < 1e-12):
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Apply fixed score",
                          f"Apply a fixed threshold score of {score:.4f}? {self._rejects_text(score)}It stays "
                          "when the product is fitted again with the same engine version. From the next part on.",
                          QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("applyScoreConfirm")
        box.accepted.connect(self._commit_score)
        box.open()

    def _commit_score(self) -> None:
        if self.pending_score is None:
            return
        self.fixed, self.applied_threshold = True, self.pending_score
        self.score_button.setEnabled(False)
        if self.on_commit_score is not None:
            self.on_commit_score(self.pending_score)

    def _rejects_text(self, threshold: float) -> str:
        """'On the N held-out good images it rejects k (x%). ' ('' without scores)."""
        if not self.scores:
            return ""
        n = len(self.scores)
        seen = expected_frr(self.scores, threshold)
        return f"On the {n} held-out good images it rejects {round(seen * n)} ({format_rate(seen)}). "

    def _set_pending_band(self, band: float) -> None:
        self.pending_band = band
        self.hist.set_band(band)
        self._describe_band()

    def ask_apply_band(self) -> None:
        """The band's Apply asks first, saying which scores will get RECHECK."""
        if abs(self.pending_band - self.applied_band) < 1e-12:
            return
        what = (f"a recheck band of ± {self.pending_band:.1%} of the threshold"
                if self.pending_band else "no recheck band (every part OK or NG)")
        box = QMessageBox(QMessageBox.Icon.Question, "Apply recheck band",
                          f"Apply {what}? {self._band_text()} From the next part on.",
                          QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("applyRecheckConfirm")
        box.accepted.connect(self._commit_band)
        box.open()

    def _commit_band(self) -> None:
        self.applied_band = self.pending_band
        self.band_button.setEnabled(False)
        if self.on_commit_band is not None:
            self.on_commit_band(self.pending_band)

    def _band_text(self) -> str:
        """Which scores get RECHECK under the pending band, and how many good images would."""
        threshold = self.hist.threshold
        if not self.pending_band:
            return "Off: every part is OK or NG."
        if threshold is None:
            return f"Scores within ± {self.pending_band:.1%} of the threshold will get RECHECK."
        lo, hi = self.hist.band_edges() or (threshold, threshold)
        text = f"Scores from {lo:.2f} to {hi:.2f} get RECHECK (amber): a person decides; RECHECK is not NG."
        if self.scores:
            n, inside = len(self.scores), sum(in_recheck_band(s, threshold, self.pending_band) for s in self.scores)
            text += f" Of the {n} held-out good images, {inside} would ({format_rate(inside / n)})."
        return text

    def _describe_band(self) -> None:
        self.band_button.setEnabled(abs(self.pending_band - self.applied_band) > 1e-12 and self.band_input.isEnabled())
        self.band_note.setText(self._band_text())

    def ask_apply(self) -> None:
        """Apply asks first, saying what the line will see; OK commits the target."""
        if abs(self.pending - self.applied) < 1e-12 and not self.fixed:
            return
        threshold = threshold_for_frr(self.scores, self.pending) if self.scores else None
        at = f" (threshold {threshold:.4f})" if threshold is not None else ""
        was = (f"a fixed score of {self.applied_threshold:.4f}" if self.fixed and self.applied_threshold is not None
               else format_rate(self.applied))
        box = QMessageBox(QMessageBox.Icon.Question, "Apply threshold",
                          f"Apply a false-reject target of {format_rate(self.pending)}{at}? Expected false-"
                          f"reject rate: about {format_rate(self.pending)} of good parts rejected, from the "
                          f"next part on (was {was}).",
                          QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("applyThresholdConfirm")
        box.accepted.connect(self._commit)
        box.open()

    def set_product(self, info: Optional[ProductInfo], calibration,  # noqa: ANN001
                    suspects: Sequence[str] = ()) -> None:
        """Show `info`'s calibration (None: not fitted); `suspects`: names of the outlier
        references still in the product."""
        self.scores = list(calibration.good_scores) if calibration is not None else []
        self.applied = self.pending = info.target_frr if info else 0.01
        self.fixed = bool(getattr(calibration, "fixed_score", False))
        threshold = info.threshold if info is not None else None
        self.applied_threshold, self.pending_score = threshold, None
        for w, value in ((self.slider, nearest_step(self.pending)), (self.frr_input, self.pending * 100),
                         (self.score_input, threshold or 0.0)):
            w.blockSignals(True)
            w.setValue(value)
            w.blockSignals(False)
            w.setEnabled(info is not None and (w is not self.score_input or calibration is not None))
        method = getattr(calibration, "method", "")
        self.uncalibrated = method == "uncalibrated"  # fitted with no good images (IAP-AS)
        self.hist.empty_text = ("No good images scored: the threshold is a default"
                                if self.uncalibrated else EMPTY_HISTOGRAM)
        self.hist.set_data(self.scores, threshold if self.scores else None)
        self.applied_band = self.pending_band = recheck_band(info) if info is not None else 0.0
        self.band_input.blockSignals(True)
        self.band_input.setValue(self.pending_band * 100)
        self.band_input.blockSignals(False)
        self.band_input.setEnabled(info is not None)
        self.hist.set_band(self.pending_band)
        self._describe(threshold)
        self._describe_band()
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
        typed = self.pending_score is not None
        # a fixed score ends with any target's Apply, the stored one's too
        self.apply_button.setEnabled((abs(self.pending - self.applied) > 1e-12 or (self.fixed and not typed))
                                     and self.slider.isEnabled())
        self.score_button.setEnabled(typed and self.score_input.isEnabled() and not (
            self.fixed and abs(self.pending_score - (self.applied_threshold or 0.0)) < 1e-12))
        self.target_label.setText("<b>fixed</b>" if self.fixed and not typed and frr == self.applied
                                  else f"<b>{format_rate(frr)}</b>")
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
        if typed or (self.fixed and abs(self.pending - self.applied) < 1e-12):
            kept = "" if typed else " Kept when the product is fitted again; Apply a target to set it from the good images."
            self.expected.setText(f"Threshold <b>{threshold:.2f}</b>, a fixed score. {self._rejects_text(threshold)}{kept}")
            return
        self.expected.setText(
            f"Threshold <b>{threshold:.2f}</b>: expected to reject about {format_rate(frr)} of good parts "
            f"(on the {n} held-out good images: {round(seen * n)} of {n}, {format_rate(seen)}).")

    def _preview(self) -> None:
        threshold = threshold_for_frr(self.scores, self.target()) if self.scores else None
        if threshold is not None:
            self.hist.set_threshold(threshold)
            self.score_input.blockSignals(True)
            self.score_input.setValue(threshold)  # the target's threshold, to start a fixed score from
            self.score_input.blockSignals(False)
        self._describe(threshold)
        self._describe_band()

    def _commit(self) -> None:
        self.applied = self.pending
        self.was_fixed, self.fixed = self.fixed, False  # the commit ends a fixed score even at the same target
        self.apply_button.setEnabled(False)
        self.on_commit(self.pending)
