"""Live tab: the operator's view of a camera, hot folder or replayed folder, in two modes.

Continuous: free-run; the main view is the latest *scored* frame (with its overlay) and the
banner is that frame's verdict; the raw picture is a small inset; frames not scored are counted.
Triggered: one trigger (a file, Space / Snap, a software trigger) -> one image, one verdict, one
record, through `inspector.line.LinePipeline` (gui/line_session.py); the part stays on screen
until the next one. The main view and the banner both record the id they show
(`shown_frame_id`), and `result_shown` says when both changed.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSplitter,
                               QVBoxLayout, QWidget)

from ...core.errors import InspectorError
from ...core.result import InspectionResult, region_caption
from ...services.inspections import FLAG_VERDICT, flag_allowed, flag_inspection
from ..line_session import LineBridge, LineConfig, LinePart, LineSession
from ..live_session import LiveBridge, LiveConfig, LiveSession, Scored
from ..settings import get_str
from ..state import AppState
from ..widgets.detector_line import DetectorLine
from ..widgets.error_dialog import show_error
from ..widgets.live_canvas import LiveCanvas
from ..widgets.part_view import PartView
from ..widgets.source_picker import SourcePicker
from ..workers import run_task
from .result_panel import ResultPanel

RETENTION_KEY = "line/retention"  # "all" | "ng" | "thumbs" (Settings tab); read when a triggered run starts
OPCUA_KEY, MQTT_KEY = "line/opcua", "line/mqtt"  # the PLC / MES links (Settings tab; "" = off), read likewise
_STUCK: list = []  # runs whose threads outlived their closed window (never deleted)


class LiveTab(QWidget):
    title = "Live"
    result_shown = Signal(str)  # the frame / part id now in the main view and the banner

    def __init__(self, state: AppState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self.session: Optional[LiveSession | LineSession] = None
        self.bridge: Optional[LiveBridge | LineBridge] = None
        self.parts_shown = 0  # triggered parts shown since the tab was made (tests, screenshots)
        self.last_cycle_ms: Optional[float] = None
        self.links_text = ""  # what the triggered run is connected to (PLC / MES), in words
        self.counts = {"inspected": 0, "ng": 0, "recheck": 0}
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
        self.mode = QComboBox()
        self.mode.setObjectName("liveMode")
        self.mode.addItem("Continuous", "continuous")
        self.mode.addItem("Triggered", "triggered")
        self.mode.setToolTip("Continuous: score the newest frame again and again.\n"
                             "Triggered: one part per trigger (a new file, Space / Snap), one record each.")
        self.mode.setCurrentIndex(max(0, self.mode.findData(get_str(state.settings, "live/mode"))))
        self.loop = QCheckBox("Loop")
        self.loop.setToolTip("Triggered mode: play a replayed folder again and again (default: each file once)")
        self.snap_btn = QPushButton("Snap (Space)")
        self.snap_btn.setObjectName("liveSnap")
        self.snap_btn.setMinimumHeight(56)
        self.snap_btn.clicked.connect(self.trigger)
        mode_row = QHBoxLayout()
        mode_row.setContentsMargins(0, 0, 0, 0)
        mode_row.addWidget(QLabel("Mode"))
        mode_row.addWidget(self.mode)
        mode_row.addWidget(self.loop)
        mode_row.addStretch(1)
        src_row = QHBoxLayout()
        src_row.addWidget(self.source, 1)
        src_row.addSpacing(12)
        src_row.addLayout(mode_row)
        src_row.addSpacing(12)
        src_row.addWidget(self.start_btn)
        src_row.addWidget(self.pause_btn)
        src_row.addWidget(self.snap_btn)

        # the main view is the scored image; the raw camera picture is only an inset
        self.view = PartView(empty_text="The scored image appears here, with its verdict beside it")
        self.view.setObjectName("livePartView")
        self.scored_view = self.view
        self.canvas = LiveCanvas()
        self.canvas.setMinimumSize(192, 120)
        self.canvas.setMaximumSize(240, 150)
        self.canvas.empty_text = "Camera"
        self.inset = QWidget()
        il = QVBoxLayout(self.inset)
        il.setContentsMargins(0, 0, 0, 0)
        il.addWidget(QLabel("Camera (raw, not scored):"))
        il.addWidget(self.canvas)
        self.rates = QLabel()
        self.rates.setObjectName("liveRates")
        self.rates.setWordWrap(True)
        self.skipped = QLabel()
        self.skipped.setObjectName("liveSkipped")
        self.cycle = QLabel()
        self.cycle.setObjectName("liveCycle")
        f = self.cycle.font()
        f.setPointSizeF(f.pointSizeF() * 1.4)
        f.setBold(True)
        self.cycle.setFont(f)
        info = QVBoxLayout()
        info.addWidget(self.cycle)
        info.addWidget(self.rates)
        info.addWidget(self.skipped)
        info.addStretch(1)
        below = QHBoxLayout()
        below.addWidget(self.inset)
        below.addLayout(info, 1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.view, 1)
        ll.addLayout(below)

        self.panel = ResultPanel(on_flag=self.set_flag)
        self.panel.banner.setMinimumHeight(120)
        self.panel.banner.clear("Not running", "Press Start (Space)")
        self.count_labels: dict[str, QLabel] = {}
        grid = QGridLayout()
        for col, (key, title) in enumerate((("inspected", "Inspected"), ("ng", "NG"),
                                                  ("recheck", "Recheck"), ("rate", "NG rate"))):
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
        reset = QPushButton("New shift")
        reset.setObjectName("liveNewShift")
        reset.setToolTip("Start the shift's counts again (inspected, NG, RECHECK, NG rate)")
        reset.clicked.connect(self.reset_counts)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.panel)
        self.what = QLabel()
        self.what.setObjectName("liveShown")
        self.what.setWordWrap(True)
        sl.addWidget(self.what)
        self.detector_line = DetectorLine(state)
        sl.addWidget(self.detector_line)
        sl.addStretch(1)
        sl.addWidget(QLabel("This shift:"))
        sl.addLayout(grid)
        sl.addWidget(reset)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("liveSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setSizes([900, 400])
        lay = QVBoxLayout(self)
        lay.addLayout(src_row)
        lay.addWidget(self.splitter, 1)

        # the tab takes the keyboard focus so Space/F/M reach its shortcuts, not a text field
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        for b in (self.start_btn, self.pause_btn, self.snap_btn, self.mode, self.loop):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        QShortcut(QKeySequence("Space"), self, self.space)
        QShortcut(QKeySequence("Ctrl+Space"), self, self.toggle_pause)
        QShortcut(QKeySequence("F"), self, lambda: self._toggle_flag("false_reject"))
        QShortcut(QKeySequence("M"), self, lambda: self._toggle_flag("missed_defect"))
        self.timer = QTimer(self)
        self.timer.setInterval(500)
        self.timer.timeout.connect(self._update_rates)
        # bound methods, not lambdas: Qt drops these connections when the tab is destroyed
        state.product_changed.connect(self._product_changed)
        state.workspace_changed.connect(self._workspace_changed)
        state.product_updated.connect(self._recipe_updated)  # after the detector line's own refresh
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()
        self._update_counts()

    def _product_changed(self, _name: str) -> None:
        self.stop()

    def _workspace_changed(self) -> None:
        self.stop()

    def _recipe_updated(self, _name: str) -> None:
        if self.session is not None:  # a session scores with the detector it loaded at Start
            self.detector_line.setText(self.detector_line.text() + " (this run keeps the detector it started "
                                       "with: Stop, then Start to use a change)")

    def showEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        super().showEvent(event)
        self.setFocus()

    def set_source(self, kind: str, value: str, fps: Optional[float] = None) -> None:
        self.source.set_source(kind, value, fps)

    # --- modes -------------------------------------------------------------------------------
    def triggered(self) -> bool:
        return self.mode.currentData() == "triggered"

    def set_mode(self, mode: str) -> None:
        """"continuous" or "triggered" (stops a run of the other mode)."""
        self.mode.setCurrentIndex(self.mode.findData(mode))

    def _mode_changed(self) -> None:
        self.stop()
        trig = self.triggered()
        self.state.settings.setValue("live/mode", self.mode.currentData())
        self.inset.setVisible(not trig)
        self.pause_btn.setVisible(not trig)
        self.snap_btn.setVisible(trig)
        self.loop.setVisible(trig)
        self.source.record.setVisible(not trig)  # triggered: every part is recorded (retention: Settings)
        self.cycle.setVisible(trig)
        self._update_buttons()
        self._update_rates()

    def _update_buttons(self) -> None:
        s = self.session
        self.snap_btn.setEnabled(isinstance(s, LineSession) and s.software_trigger)
        self.mode.setEnabled(s is None)
        self.loop.setEnabled(s is None)

    def space(self) -> None:
        """Space (a foot pedal sends it too): a part in triggered mode, else start / stop."""
        if self.triggered() and self.session is not None:
            self.trigger()
        else:
            self.toggle()

    def trigger(self) -> Optional[str]:
        """One software trigger (Space / Snap): the part id, or None (said in the status line)."""
        s = self.session
        if not isinstance(s, LineSession):
            return None
        try:
            return s.trigger()
        except InspectorError as exc:
            self.rates.setText(str(exc))
            return None

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
        if self.triggered():
            retention = get_str(self.state.settings, RETENTION_KEY) or "all"
            line = LineConfig(kind=self.source.kind.currentData(), spec=spec, product=self.state.product,
                              device=self.state.device, station=self.state.station() or "station",
                              retention=retention, loop=self.loop.isChecked(),
                              opcua=get_str(self.state.settings, OPCUA_KEY).strip(),
                              mqtt=get_str(self.state.settings, MQTT_KEY).strip())
            self.bridge = LineBridge()  # no parent: the session keeps it alive until its thread ends
            self.bridge.part.connect(self._part)
            self.session = LineSession(self.state.workspace, line, self.bridge)
        else:
            config = LiveConfig(spec=spec, fps=fps, product=self.state.product, device=self.state.device,
                                record_all=self.source.record_all(), station=self.state.station(),
                                operator=self.state.operator())
            self.bridge = LiveBridge()  # no parent: the session keeps it alive until its threads end
            self.bridge.frame_ready.connect(self._show_frame)
            self.bridge.scored.connect(self._scored)
            self.session = LiveSession(self.state.workspace, config, self.bridge)
        self.bridge.status.connect(self._status)
        self.bridge.ended.connect(self._ended)
        self.canvas.meter.reset()
        self.links_text = ""
        self.session.start()
        self.timer.start()
        self.start_btn.setText("■  Stop")
        self.pause_btn.setEnabled(True)
        self.pause_btn.setText("❚❚  Pause")
        self.source.set_running(True)
        self._update_buttons()
        self.setFocus()

    def stop(self, reason: str = "") -> None:
        session, bridge = self.session, self.bridge
        if session is None:
            return
        self.session = None
        self.detector_line.refresh()  # the next Start loads the published state
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
        self._update_buttons()
        if reason and isinstance(session, LineSession) and self.view.shown_frame_id:
            self.rates.setText(f"Stopped: {reason}")  # the last part's verdict stays on screen
        elif reason:
            self._message("Stopped", reason)
        elif self.panel.banner.state in ("busy", "idle"):
            self.panel.banner.clear("Not running", "Press Start (Space)")
        self._update_rates()

    def _reap(self) -> None:
        """Let go of stopped runs whose threads have ended (here, in the GUI thread), and say
        what a triggered run left for the MES when no other run has started since."""
        ended = [s for s in self._stopped if not s.running]
        self._stopped = [s for s in self._stopped if s.running]
        left = sum(s.spooled for s in ended if isinstance(s, LineSession))
        if left and self.session is None:
            self.skipped.setText(f"{left} MQTT message(s) not delivered wait in the spool: they go "
                                 "out first when the next triggered run reaches the broker.")
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
        if not isinstance(self.session, LiveSession):
            return
        paused = not self.session.paused
        self.session.set_paused(paused)
        self.pause_btn.setText("▶  Resume" if paused else "❚❚  Pause")
        if paused:
            self._message("Paused", "Press Resume (Ctrl+Space) to continue")

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
        self.last_record = s.record_id
        self.last_scored = s
        frame = s.frame.name or f"frame {s.frame.index}"
        self._show_result(s.frame_id, s.frame.image, s.overlay, s.result, frame)

    def _part(self, lp: LinePart) -> None:
        if not self._current() or lp.part.result is None:
            return
        p = lp.part
        self.last_record = p.record_id
        self.last_cycle_ms = p.cycle_ms
        # a recorded part: flags act on its record (the Scored shape is what set_flag takes)
        self.last_scored = Scored(_frame_of(p), p.result, lp.overlay, p.record_id, p.part_id)
        self.parts_shown += 1
        self.cycle.setText(f"Part {p.seq} · cycle {p.cycle_ms:.0f} ms")
        self._show_result(p.part_id, p.image, lp.overlay, p.result, p.name or p.part_id)

    def _show_result(self, frame_id: str, image, overlay, r: InspectionResult, what: str) -> None:  # noqa: ANN001
        """The one place the main view and the banner change together, for the same image."""
        self.counts["inspected"] += 1
        self.counts["ng"] += r.is_ng
        self.counts["recheck"] += r.is_recheck
        self.view.show_scored(image, overlay, frame_id)
        self.panel.banner.show_verdict(r.verdict, r.score, r.threshold)
        self.panel.banner.shown_frame_id = frame_id
        regions = "; ".join(region_caption(g.label, g.score, g.area_px, long=True) for g in r.regions[:4])
        self.panel.details.setText(f"{what} · {r.timings_ms.get('total', 0):.0f} ms<br>"
                                   f"{regions or 'No region above the pixel threshold.'}")
        shown = what if frame_id in what else f"{what}, {frame_id}"  # the file and the frame it came as
        self.what.setText(f"The verdict above is for the image on the left ({shown}).")
        self.panel.set_flag("", r.verdict)
        self._update_counts()
        self.result_shown.emit(frame_id)

    def _message(self, title: str, detail: str, busy: bool = False) -> None:
        """A message in the banner's place: it no longer shows the main view's verdict."""
        self.panel.banner.show_message(title, detail, busy=busy)
        self.panel.banner.shown_frame_id = ""
        self.view.clear_part()
        self.what.setText("")

    def _status(self, kind: str, title: str, detail: str) -> None:
        if not self._current():
            return
        if kind in ("problem", "fault"):
            self._message(title, detail)
        elif kind == "busy":
            self._message(title, detail, busy=True)
        elif kind == "ok" and self.panel.banner.state in ("message", "busy"):
            if isinstance(self.session, LineSession):
                how = ("press Space or Snap for each part" if self.session.software_trigger
                       else "each new file is one part")
                if self.session.software_trigger and self.links_text:
                    how += ", or trigger from the line (PLC / MES)"
                self._message("Ready: waiting for a part…", f"{detail}\n{how}", busy=True)
            else:
                self._message("Waiting for the first verdict…", detail, busy=True)
        elif kind == "links":  # the PLC / MES links changed (up, down, a product from the line)
            # a product the line selects switches the pipeline only: the window's product picker
            # stays on the run's product (changing it stops the run); this line says what the line chose
            self.links_text = detail
            self._update_rates()
        elif kind == "note":  # the detector is ready: it may have just been fitted for this run
            self.state.notify_updated()
            if detail:
                self.rates.setToolTip(detail)

    def _ended(self, reason: str) -> None:
        if self._current():
            self.stop(reason)

    # --- counters, rates, flags ----------------------------------------------------------------
    def reset_counts(self) -> None:
        """New shift: the counts start again (the pipeline's too; the part sequence goes on)."""
        self.counts = {"inspected": 0, "ng": 0, "recheck": 0}
        if isinstance(self.session, LineSession):
            self.session.reset_counts()
        self._update_counts()

    def _update_counts(self) -> None:
        n, ng = self.counts["inspected"], self.counts["ng"]
        self.count_labels["inspected"].setText(str(n))
        self.count_labels["ng"].setText(str(ng))
        self.count_labels["recheck"].setText(str(self.counts["recheck"]))
        self.count_labels["rate"].setText(f"{ng / n:.1%}" if n else "–")

    def rates_now(self) -> tuple[float, float, int]:
        """(displayed FPS, scoring FPS, frames skipped by the scorer); continuous mode."""
        s = self.session
        if not isinstance(s, LiveSession):
            return 0.0, 0.0, 0
        return self.canvas.displayed_fps(), s.scoring_fps.fps(), s.score_slot.dropped

    def _update_rates(self) -> None:
        s = self.session
        if isinstance(s, LineSession):
            how = "Space / Snap: one part" if s.software_trigger else "each new file: one part"
            if s.software_trigger and self.links_text:
                how = "Space / Snap / PLC / MES: one part"
            self.rates.setText(f"Triggered · {s.description} · {how}"
                               + (f"\n{self.links_text}" if self.links_text else ""))
            self.skipped.setText("")
            return
        if s is None:
            if not self.triggered():
                self.rates.setText("")
            return
        shown, scored, dropped = self.rates_now()
        self.rates.setText(f"Displayed {shown:.1f} FPS · Scoring {scored:.1f} FPS")
        self.skipped.setText(f"skipped {dropped} frames (not scored: the newest frame wins)")
        self.canvas.caption = f"{shown:.0f} FPS"

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


def _frame_of(p):  # noqa: ANN001, ANN202 - a PartResult -> the camera Frame it was
    from ...camera.base import Frame

    return Frame(image=p.image, index=p.seq, timestamp=p.verdict_wall, name=p.name or p.part_id)


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
