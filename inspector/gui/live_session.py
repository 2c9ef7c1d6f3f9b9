"""A live run: a reader thread paced by the source and a scoring thread on the newest frame.

reader:  source.read() at the source's rate -> display slot (GUI paints the newest frame)
                                            -> scoring slot (latest frame wins; drops counted)
scorer:  scoring slot -> detector -> OK/NG (+ overlay prepared here) -> GUI; NG frames
         (or all, by option) are recorded in the history.
Camera problems are reported as plain messages and retried with a growing pause; neither
thread ever waits on the GUI, and the GUI never waits on them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Optional

from PySide6.QtCore import QObject, Signal

from ..camera.base import CameraError, Frame
from ..camera.rates import FpsMeter, LatestFrameSlot
from ..core.errors import InspectorError
from ..core.image_io import encode_png
from ..core.result import InspectionResult
from .overlay_data import OverlayData, overlay_from_result
from .workers import describe_error

RETRY_MAX_S = 10.0


@dataclass
class LiveConfig:
    spec: str  # what open_source takes: "0", a path, a URL, "folder:PATH", "hotfolder:PATH"
    fps: Optional[float]
    product: str
    device: str
    record_all: bool = False
    station: str = ""
    operator: str = ""


@dataclass
class Scored:
    frame: Frame
    result: InspectionResult
    overlay: OverlayData
    record_id: Optional[int]
    frame_id: str = ""  # given when the frame was read; the view and banner both show this id


class LiveBridge(QObject):
    """Signals from the live threads; created in (and delivered to) the GUI thread.

    It has no Qt parent: the session keeps it alive until both threads have ended, so a
    thread never emits on a deleted object, and the GUI thread drops the last reference.
    """

    frame_ready = Signal()              # the display slot has a new frame
    scored = Signal(object)             # Scored
    status = Signal(str, str, str)      # kind ("problem" | "busy" | "ok" | "note"), title, detail
    ended = Signal(str)                 # why the run ended ("" = stopped by the user)


class LiveSession:
    """Owns the two threads of one run. `stop()` returns at once; threads end on their own.

    The bridge must outlive the threads: the GUI keeps a stopped session (and so its bridge)
    until `running` is False, then lets both go in the GUI thread.
    """

    def __init__(self, ws, config: LiveConfig, bridge: LiveBridge) -> None:  # noqa: ANN001
        self.ws, self.config, self.bridge = ws, config, bridge
        self.display_slot: LatestFrameSlot[Frame] = LatestFrameSlot()
        self.score_slot: LatestFrameSlot[tuple[str, Frame]] = LatestFrameSlot()  # (frame id, frame)
        self._frame_seq = 0
        self.scoring_fps = FpsMeter()
        self.source_fps = FpsMeter()
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._display_pending = threading.Event()
        self._source = None
        self.description = config.spec
        self.threads = [threading.Thread(target=self._read_loop, name="live-reader", daemon=True),
                        threading.Thread(target=self._score_loop, name="live-scorer", daemon=True)]

    # --- control (GUI thread) ----------------------------------------------------------------
    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self.score_slot.close()
        src = self._source
        if src is not None:
            src.close()  # wakes a waiting read

    def set_paused(self, paused: bool) -> None:
        (self._paused.set if paused else self._paused.clear)()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def join(self, timeout: float = 2.0) -> None:
        end = time.monotonic() + timeout
        for t in self.threads:
            if t.is_alive():
                t.join(max(0.0, end - time.monotonic()))

    def take_display_frame(self) -> Optional[Frame]:
        """Newest frame for the screen (GUI thread); re-arms the frame_ready notification."""
        self._display_pending.clear()
        return self.display_slot.get(timeout=0)

    # --- both threads -------------------------------------------------------------------------
    def _emit(self, signal, *args: object) -> None:  # noqa: ANN001 - a bound Signal of the bridge
        """Emit unless stopped: a stopped run says nothing more (its bridge is still alive)."""
        if not self._stop.is_set():
            signal.emit(*args)

    def _status(self, kind: str, title: str, detail: str) -> None:
        self._emit(self.bridge.status, kind, title, detail)

    # --- reader thread -------------------------------------------------------------------------
    def _read_loop(self) -> None:
        from ..camera.sources import open_source

        emit = self._status
        src = None
        pause = 1.0
        connected = False
        while not self._stop.is_set():
            try:
                if src is None:  # a missing folder or unplugged camera may come back: retry it all
                    src = self._source = open_source(self.config.spec, fps=self.config.fps, loop=True)
                    self.description = src.description or self.config.spec
                    if self._stop.is_set():
                        break
                if not src.is_open:
                    src.open()
                frame = src.read(timeout=0.5)
            except CameraError as exc:
                if self._stop.is_set():
                    break
                connected = False
                emit("problem", "Camera problem", f"{exc}\nRetrying in {pause:.0f} s… (Stop to change the source)")
                if self._stop.wait(pause):
                    break
                pause = min(pause * 2, RETRY_MAX_S)
                continue
            if frame is None:
                if src.finished:
                    self._emit(self.bridge.ended, "the source has no more frames")
                    break
                continue
            if not connected:
                connected, pause = True, 1.0
                emit("ok", "connected", self.description)
            self.source_fps.tick()
            if self._paused.is_set():
                continue
            self._frame_seq += 1
            self.display_slot.put(frame)
            self.score_slot.put((f"frame-{self._frame_seq:06d}", frame))
            if not self._display_pending.is_set():
                self._display_pending.set()
                self._emit(self.bridge.frame_ready)
        if src is not None:
            src.close()

    # --- scoring thread ------------------------------------------------------------------------
    def _score_loop(self) -> None:
        from ..services.inspect import detector_for, inspect_array
        from ..services.inspections import record_inspection

        c = self.config
        emit = self._status
        emit("busy", "Preparing the detector…", f"product “{c.product}”")
        try:
            det, note = detector_for(self.ws, c.product, device=c.device, cancel=self._stop.is_set)
        except BaseException as exc:  # noqa: BLE001 - shown in the banner, never a crash
            if not self._stop.is_set():
                message, _ = describe_error(exc)
                emit("problem", "Cannot inspect", message)
                self._emit(self.bridge.ended, message)
                self.stop()
            return
        emit("note", "ready", note)
        while not self._stop.is_set():
            item = self.score_slot.get(timeout=0.2)
            if item is None or self._paused.is_set():
                continue
            frame_id, frame = item
            try:
                result, _ = inspect_array(self.ws, c.product, frame.image, det, record=False)
                rec_id = None
                if c.record_all or result.is_ng:
                    rec = record_inspection(self.ws, c.product, result, source="camera",
                                            image_bytes=encode_png(frame.image), image_suffix=".png",
                                            original_name=frame.name or f"frame {frame.index}",
                                            station=c.station, operator=c.operator)
                    rec_id = rec.id
            except (InspectorError, OSError, ValueError, MemoryError) as exc:
                emit("problem", "Inspection failed", describe_error(exc)[0])
                self._stop.wait(1.0)
                continue
            self.scoring_fps.tick()
            self._emit(self.bridge.scored, Scored(frame, result, overlay_from_result(result), rec_id,
                                                      frame_id))
