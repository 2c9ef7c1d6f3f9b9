"""Live tab: the operator's view of a camera (or replayed folder) with OK/NG per scored frame."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from ...services.inspections import FLAG_VERDICT, flag_allowed, flag_inspection
from ..image_view import ImageView
from ..live_session import LiveBridge, LiveConfig, LiveSession, Scored
from ..state import AppState
from ..widgets.error_dialog import show_error
from ..widgets.live_canvas import LiveCanvas
from ..widgets.source_picker import SourcePicker
from ..workers import run_task
from .result_panel import ResultPanel

_STUCK: list[LiveSession] = []  # runs whose threads outlived their closed window (never deleted)


class LiveTab(QWidget):
    title = "Live"

    def __init__(self, state: AppState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self.session: Optional[LiveSession] = None
        self.bridge: Optional[LiveBridge] = None
        self.counts = {"inspected": 0, "ng": 0}
        self.last_record: Optional[int] = None
        self.last_scored: Optional[Scored] = None
        # stopped runs whose threads may still be ending: kept (with their bridges) until they have ended
        self._stopped: list[LiveSession] = []
        self._reaper = QTimer(self)
        self._reaper.setInterval(200)
        self._reaper.timeout.connect(self._reap)
        self.source = SourcePicker(state.settings)

        self.start_btn = QPushButton("▶  Start")
        self.pause_btn = QPushButton("❚❚  Pause")
        self.start_btn.setObjectName("liveStart")
        self.pause_btn.setObjectName("livePause")
        for b in (self.start_btn, self.pause_btn):
            b.setMinimumSize(150, 56)
            f = b.font()
            f.setPointSizeF(f.pointSizeF() * 1.4)
            f.setBold(True)
            b.setFont(f)
        self.start_btn.clicked.connect(self.toggle)
        self.pause_btn.clicked.connect(self.toggle_pause)
        self.pause_btn.setEnabled(False)
        src_row = QHBoxLayout()
        src_row.addWidget(self.source, 1)
        src_row.addSpacing(12)
        src_row.addWidget(self.start_btn)
        src_row.addWidget(self.pause_btn)

        self.canvas = LiveCanvas()
        self.rates = QLabel()
        self.rates.setObjectName("liveRates")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.canvas, 1)
        ll.addWidget(self.rates)

        self.panel = ResultPanel(on_flag=self.set_flag)
        self.panel.banner.setMinimumHeight(120)
        self.panel.banner.clear("Not running", "Press Start (Space)")
        self.scored_view = ImageView(empty_text="The last scored frame appears here")
        self.scored_view.setMinimumSize(160, 90)  # the side column must fit a 768 px high screen
        self.count_labels: dict[str, QLabel] = {}
        grid = QGridLayout()
        for col, (key, title) in enumerate((("inspected", "Inspected"), ("ng", "NG"), ("rate", "NG rate"))):
            t = QLabel(title)
            v = QLabel("0")
            v.setObjectName(f"count_{key}")
            f = v.font()
            f.setPointSizeF(f.pointSizeF() * 2.0)
            f.setBold(True)
            v.setFont(f)
            grid.addWidget(t, 0, col, Qt.AlignmentFlag.AlignHCenter)
            grid.addWidget(v, 1, col, Qt.AlignmentFlag.AlignHCenter)
            self.count_labels[key] = v
        reset = QPushButton("Reset shift counters")
        reset.clicked.connect(self.reset_counts)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.panel)
        sl.addWidget(QLabel("Last scored frame (the verdict above is for this frame):"))
        sl.addWidget(self.scored_view, 1)
        sl.addLayout(grid)
        sl.addWidget(reset)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("liveSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setSizes([820, 440])
        lay = QVBoxLayout(self)
        lay.addLayout(src_row)
        lay.addWidget(self.splitter, 1)

        # the tab takes the keyboard focus so Space/F/M reach its shortcuts, not a text field
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        for b in (self.start_btn, self.pause_btn):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        QShortcut(QKeySequence("Space"), self, self.toggle)
        QShortcut(QKeySequence("Ctrl+Space"), self, self.toggle_pause)
        QShortcut(QKeySequence("F"), self, lambda: self._toggle_flag("false_reject"))
        QShortcut(QKeySequence("M"), self, lambda: self._toggle_flag("missed_defect"))
        self.timer = QTimer(self)
        self.timer.setInterval(500)
        self.timer.timeout.connect(self._update_rates)
        # bound methods, not lambdas: Qt drops these connections when the tab is destroyed
        state.product_changed.connect(self._product_changed)
        state.workspace_changed.connect(self._workspace_changed)
        self._update_counts()

    def _product_changed(self, _name: str) -> None:
        self.stop()

    def _workspace_changed(self) -> None:
        self.stop()

    def showEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        super().showEvent(event)
        self.setFocus()

    def set_source(self, kind: str, value: str, fps: Optional[float] = None) -> None:
        self.source.set_source(kind, value, fps)

    # --- run control ---------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.session is not None

    def toggle(self) -> None:
        self.stop() if self.is_running() else self.start()

    def start(self) -> None:
        if self.session is not None:
            return
        if not self.state.product or self.state.workspace is None:
            self.panel.banner.show_message("Select a product first", "Use the product picker at the top.")
            return
        try:
            spec, fps = self.source.spec()
        except ValueError as exc:
            self.panel.banner.show_message("No source given", str(exc))
            return
        config = LiveConfig(spec=spec, fps=fps, product=self.state.product, device=self.state.device,
                            record_all=self.source.record_all(), station=self.state.station(),
                            operator=self.state.operator())
        self.bridge = LiveBridge()  # no parent: the session keeps it alive until its threads end
        self.bridge.frame_ready.connect(self._show_frame)
        self.bridge.scored.connect(self._scored)
        self.bridge.status.connect(self._status)
        self.bridge.ended.connect(self._ended)
        self.session = LiveSession(self.state.workspace, config, self.bridge)
        self.canvas.meter.reset()
        self.session.start()
        self.timer.start()
        self.start_btn.setText("■  Stop")
        self.pause_btn.setEnabled(True)
        self.pause_btn.setText("❚❚  Pause")
        self.source.set_running(True)
        self.setFocus()

    def stop(self, reason: str = "") -> None:
        session, bridge = self.session, self.bridge
        if session is None:
            return
        self.session = None
        session.stop()  # returns at once; the threads end by themselves
        if bridge is not None:
            bridge.blockSignals(True)  # late frames and results of this run are ignored
        self.bridge = None
        self._stopped.append(session)
        self._reaper.start()
        self.timer.stop()
        self.start_btn.setText("▶  Start")
        self.pause_btn.setEnabled(False)
        self.pause_btn.setText("❚❚  Pause")
        self.source.set_running(False)
        if reason:
            self.panel.banner.show_message("Stopped", reason)
        elif self.panel.banner.state in ("busy", "idle"):
            self.panel.banner.clear("Not running", "Press Start (Space)")
        self._update_rates()

    def _reap(self) -> None:
        """Let go of stopped runs whose threads have ended (here, in the GUI thread)."""
        self._stopped = [s for s in self._stopped if s.running]
        if not self._stopped:
            self._reaper.stop()

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop and join the live threads (the window is closing)."""
        self.stop()
        for s in self._stopped:
            s.join(timeout)
        self._reap()
        _STUCK.extend(self._stopped)  # a thread still in a slow call: its bridge must outlive the tab
        self._stopped.clear()
        self._reaper.stop()

    def toggle_pause(self) -> None:
        if self.session is None:
            return
        paused = not self.session.paused
        self.session.set_paused(paused)
        self.pause_btn.setText("▶  Resume" if paused else "❚❚  Pause")
        if paused:
            self.panel.banner.show_message("Paused", "Press Resume (Ctrl+Space) to continue")

    # --- from the live threads (queued; a late one from a stopped run is dropped) -----------------
    def _current(self) -> bool:
        return self.session is not None and self.bridge is not None and self.sender() is self.bridge

    def _show_frame(self) -> None:
        if not self._current():
            return
        frame = self.session.take_display_frame()
        if frame is not None:
            self.canvas.set_frame(frame.image)

    def _scored(self, s: Scored) -> None:
        if not self._current() or self.session.paused:
            return
        r = s.result
        self.counts["inspected"] += 1
        self.counts["ng"] += r.is_ng
        self.last_record = s.record_id
        self.last_scored = s
        frame = f"{s.frame.name or 'frame ' + str(s.frame.index)} · {r.timings_ms.get('total', 0):.0f} ms"
        self.panel.banner.show_verdict(r.verdict, r.score, r.threshold)
        regions = ", ".join(f"{g.label} {g.score:.2f} ({g.area_px} px)" for g in r.regions[:4])
        self.panel.details.setText(f"{frame}<br>{regions or 'No region above the pixel threshold.'}")
        self.panel.set_flag("", r.verdict)
        self.scored_view.set_image(s.frame.image, s.overlay)
        self._update_counts()

    def _status(self, kind: str, title: str, detail: str) -> None:
        if not self._current():
            return
        if kind == "problem":
            self.panel.banner.show_message(title, detail)
        elif kind == "busy":
            self.panel.banner.show_message(title, detail, busy=True)
        elif kind == "ok" and self.panel.banner.state in ("message", "busy"):
            self.panel.banner.show_message("Waiting for the first verdict…", detail, busy=True)
        elif kind == "note":  # the detector is ready: it may have just been fitted for this run
            self.state.notify_updated()
            if detail:
                self.rates.setToolTip(detail)

    def _ended(self, reason: str) -> None:
        if self._current():
            self.stop(reason)

    # --- counters, rates, flags ----------------------------------------------------------------
    def reset_counts(self) -> None:
        self.counts = {"inspected": 0, "ng": 0}
        self._update_counts()

    def _update_counts(self) -> None:
        n, ng = self.counts["inspected"], self.counts["ng"]
        self.count_labels["inspected"].setText(str(n))
        self.count_labels["ng"].setText(str(ng))
        self.count_labels["rate"].setText(f"{ng / n:.1%}" if n else "–")

    def rates_now(self) -> tuple[float, float, int]:
        """(displayed FPS, scoring FPS, frames skipped by the scorer)."""
        s = self.session
        return (self.canvas.displayed_fps(), s.scoring_fps.fps() if s else 0.0, s.score_slot.dropped if s else 0)

    def _update_rates(self) -> None:
        shown, scored, dropped = self.rates_now()
        s = self.session
        self.rates.setText(f"Displayed {shown:.1f} FPS · Scoring {scored:.1f} FPS · "
                           f"{dropped} frame(s) not scored (latest frame wins)" if s else "")
        self.canvas.caption = f"{s.description} · {shown:.1f} FPS" if s else ""

    def _toggle_flag(self, flag: str) -> None:
        if self.last_scored is not None:
            on = self.panel.flag_fr if flag == "false_reject" else self.panel.flag_md
            self.set_flag("" if on.isChecked() else flag)

    def set_flag(self, flag: str) -> None:
        """Flag the last scored frame; a frame that was not recorded is recorded first."""
        scored = self.last_scored
        if scored is None or self.state.workspace is None:
            return
        verdict = scored.result.verdict
        if not flag_allowed(flag, verdict):
            show_error(self, f"This frame is {verdict}: only an {FLAG_VERDICT[flag]} verdict can be flagged as "
                             f"a {flag.replace('_', ' ')}.")
            self.panel.set_flag(self.panel.current_flag(), verdict)
            return
        self.panel.set_flag(flag, verdict)
        run_task(self, flag_frame, self.state.workspace, self.state.product, scored, flag,
                 self.state.station(), self.state.operator(), hooks=False,
                 on_result=lambda rec_id, sc=scored: self._flagged(sc, rec_id))

    def _flagged(self, scored: Scored, record_id: int) -> None:
        if record_id < 0:
            return
        scored.record_id = record_id
        if scored is self.last_scored:
            self.last_record = record_id


def flag_frame(ws, product: str, scored: Scored, flag: str, station: str, operator: str) -> int:  # noqa: ANN001
    """Worker: record the frame when it was not recorded yet, then set the flag; returns the id."""
    from ...core.image_io import encode_png
    from ...services.inspections import record_inspection

    rec_id = scored.record_id
    if rec_id is None:
        if not flag:
            return -1
        f = scored.frame
        rec_id = record_inspection(ws, product, scored.result, source="camera", image_bytes=encode_png(f.image),
                                   image_suffix=".png", original_name=f.name or f"frame {f.index}",
                                   station=station, operator=operator).id
    flag_inspection(ws, rec_id, flag)
    return rec_id
