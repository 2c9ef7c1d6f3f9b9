"""Triggered (line) mode in the window: `inspector.line.LinePipeline` run on one thread.

One trigger (a file in the hot folder, the next file of a replay, Space / Snap on a camera)
gives one image, one verdict and one record; each PartResult reaches the GUI thread through
the bridge's `part` signal. With a PLC (OPC UA) or MES (MQTT) link set in Settings, the run
starts `inspector.line.links.LineLinks` on its thread, as `inspector serve` does: triggers,
product selection and counter resets come from the line too, and every verdict goes out.
Like LiveSession, a stopped run emits nothing more and its bridge outlives its thread (the GUI
keeps the stopped session until `running` is False).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Optional

from PySide6.QtCore import QObject, Signal

from ..core.errors import InspectorError
from ..line.parts import PartResult
from .overlay_data import OverlayData, overlay_from_result
from .workers import describe_error

log = logging.getLogger(__name__)

FILE_KINDS = ("hotfolder", "folder")  # sources whose own events are the triggers
# what a trigger from the PLC or MES is told when the run's source triggers itself
FILE_TRIGGER_HINT = ("each new file is one part; for parts on request pick a camera, stream or video "
                     "source in the Live tab")


@dataclass
class LineConfig:
    kind: str  # SourcePicker kind: "hotfolder", "folder", "camera", "video", "url"
    spec: str  # what camera.sources.open_source takes (camera kinds) or "hotfolder:DIR"/"folder:DIR"
    product: str
    device: str
    station: str
    retention: str = "all"
    loop: bool = False  # a replayed folder plays each file once unless this is set
    opcua: str = ""  # the PLC link: OPC UA [HOST:]PORT ("" = off)
    mqtt: str = ""  # the MES link: mqtt://host:port/topic ("" = off)


@dataclass
class LinePart:
    part: PartResult
    overlay: OverlayData

    @property
    def frame_id(self) -> str:
        return self.part.part_id


class LineBridge(QObject):
    """Signals from the line thread; no Qt parent (the session keeps it alive, see LiveBridge)."""

    part = Signal(object)               # LinePart
    status = Signal(str, str, str)      # kind ("problem" | "busy" | "ok" | "fault" | "links"), title, detail
    ended = Signal(str)                 # why the run ended ("" = stopped by the user)


def make_feed(ws, config: LineConfig):  # noqa: ANN001, ANN201 - a Workspace -> a line Feed
    """The line feed for the picked source (not opened); InspectorError when it cannot be."""
    from ..line.feeds import HotFolderFeed, ReplayFeed, SnapFeed

    _, _, path = config.spec.partition(":")
    if config.kind == "hotfolder":
        return HotFolderFeed(ws, path, config.station)
    if config.kind == "folder":
        return ReplayFeed(ws, path, config.station, loop=config.loop)
    from ..camera.base import CameraError
    from ..camera.sources import open_source

    try:  # a camera, stream or video: one frame per Space / Snap
        return SnapFeed(open_source(config.spec, fps=None, loop=True))
    except CameraError as exc:
        raise InspectorError(str(exc)) from None


class LineSession:
    """One triggered run. `stop()` returns at once; the thread ends after the part in progress."""

    def __init__(self, ws, config: LineConfig, bridge: LineBridge) -> None:  # noqa: ANN001
        self.ws, self.config, self.bridge = ws, config, bridge
        self.software_trigger = config.kind not in FILE_KINDS
        self.pipeline = None  # LinePipeline once the thread has loaded the fitted detector
        self.description = config.spec
        self.links = None  # LineLinks while the PLC / MES links run
        self.links_text = ""  # what is connected, in words ("" = no links)
        self.spooled = 0  # MQTT messages left undelivered when the links stopped (sent at the next start)
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, name="line-pipeline", daemon=True)]

    # --- control (GUI thread) ------------------------------------------------------------
    def start(self) -> None:
        self.threads[0].start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self.threads[0].is_alive()

    @property
    def ready(self) -> bool:
        return self.pipeline is not None and self.pipeline.state == "running"

    def join(self, timeout: float = 2.0) -> None:
        if self.running:
            self.threads[0].join(timeout)

    def trigger(self) -> str:
        """One software trigger (Space / Snap); returns the part id. InspectorError when the
        source triggers itself or the station is not ready yet."""
        pipe = self.pipeline
        if not self.software_trigger:
            raise InspectorError("parts come from the folder: each new file is one part")
        if pipe is None:
            raise InspectorError("the station is still starting — wait for “Ready”")
        return pipe.trigger()

    def reset_counts(self) -> None:
        if self.pipeline is not None:
            self.pipeline.reset_counts()

    # --- the line thread -------------------------------------------------------------------
    def _emit(self, signal, *args: object) -> None:  # noqa: ANN001 - a bound Signal of the bridge
        if not self._stop.is_set():
            signal.emit(*args)

    def _on_part(self, part: PartResult) -> None:
        if part.result is not None:  # the overlay is prepared here, off the GUI thread
            self._emit(self.bridge.part, LinePart(part, overlay_from_result(part.result)))

    def _on_state(self, state: str, reason: str) -> None:
        if state == "fault":
            self._emit(self.bridge.status, "fault", "Source problem", f"{reason}\nRetrying… (Stop to change the source)")
        elif state == "running":
            detail = self.description + (f"\n{self.links_text}" if self.links_text else "")
            self._emit(self.bridge.status, "ok", "Ready", detail)

    def _on_links(self) -> None:
        """A link went up or down, or the line selected a product (a link's thread)."""
        links = self.links
        if links is not None:
            self.links_text = links.summary()
            self._emit(self.bridge.status, "links", "", self.links_text)

    def _start_links(self, pipe) -> None:  # noqa: ANN001 - a LinePipeline
        """Start the PLC / MES links set in Settings; InspectorError (port taken...) ends the run."""
        c = self.config
        if not (c.opcua or c.mqtt):
            return
        from ..line.links import LineLinks, station_id

        # a station name like "Line 3 / B" goes into a file name, a topic and node ids
        links = LineLinks(self.ws, pipe, station_id(c.station), opcua=c.opcua, mqtt=c.mqtt,
                          on_change=self._on_links, opcua_hint="Settings › PLC (OPC UA)")
        self._emit(self.bridge.status, "busy", "Connecting to the line…",
                   " · ".join(x for x in (c.opcua and f"OPC UA {c.opcua}", c.mqtt and f"MQTT {c.mqtt}") if x))
        links.start()
        self.links = links
        self._on_links()

    def _run(self) -> None:
        from ..line.pipeline import LinePipeline

        c = self.config
        self._emit(self.bridge.status, "busy", "Preparing the detector…", f"product “{c.product}”")
        feed = None
        try:
            feed = make_feed(self.ws, c)
            self.description = feed.description or c.spec
            pipe = LinePipeline(self.ws, c.product, feed, station=c.station, retention=c.retention,
                                software_trigger=self.software_trigger, device=c.device,
                                trigger_hint=FILE_TRIGGER_HINT)
            pipe.add_listener(self._on_part)
            pipe.add_state_listener(self._on_state)
            self.pipeline = pipe
            if self._stop.is_set():
                return
            self._start_links(pipe)
            if self._stop.is_set():
                return
            pipe.run(self._stop)
        except BaseException as exc:  # noqa: BLE001 - shown in the banner, never a crash
            message, _ = describe_error(exc)
            self._emit(self.bridge.status, "problem", "Cannot inspect", message)
            self._emit(self.bridge.ended, message)
            return
        finally:
            self._stop_links()
            if feed is not None:
                feed.close()
        if feed.finished:
            n = self.pipeline.inspected if self.pipeline else 0
            self._emit(self.bridge.ended, f"the replay has no more files ({n} part(s) inspected)")

    def _stop_links(self) -> None:
        links, self.links = self.links, None
        if links is not None:
            try:
                self.spooled = links.stop()  # undelivered MQTT messages stay in the spool for the next start
            except Exception:  # noqa: BLE001 - the run is over; a failed goodbye is only logged
                log.exception("stopping the line links failed")
