"""The triggered pipeline: one trigger -> one image -> one verdict -> one record -> listeners.

It never refits: it loads the product's fitted state (`engine_state.load_detector`) and
refuses a product that was never fitted. Listeners are plain callables run on the scoring
thread right after the record commits; publishers only enqueue there (see mqtt.py, opcua.py).
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
from datetime import datetime, timezone
from typing import Callable, Optional

import numpy as np

from ..camera.base import CameraError
from ..core.errors import InspectorError, NotFoundError
from ..core.image_io import encode_png
from ..engines.detector import Detector
from ..services import engine_state
from ..services import products as product_svc
from ..services.inspections import record_inspection
from ..storage.workspace import Workspace
from .feeds import Feed
from .parts import Part, PartResult, regions_summary

log = logging.getLogger(__name__)

RETENTIONS = ("all", "ng", "thumbs")  # keep every image / NG and RECHECK images only / those + OK thumbnails
THUMB_SIDE = 160  # px, longest side of an OK part's thumbnail
STATES = ("stopped", "running", "fault")

PartListener = Callable[[PartResult], None]
StateListener = Callable[[str, str], None]  # (state, reason)


def load_fitted_detector(ws: Workspace, product: str, device: str = "cpu") -> tuple[Detector, int]:
    """The product's fitted detector and its state version; never fits. InspectorError when the
    product is unknown or was never fitted."""
    hint = f"fit and publish it first with `inspector fit {product}`"
    try:
        info = product_svc.get_product(ws, product)
    except NotFoundError as exc:
        raise InspectorError(f"{exc} — create it, add references, then {hint}") from None
    if not info.state_path:
        raise InspectorError(f"product '{product}' is not fitted — {hint}")
    return engine_state.load_detector(ws, product, device), info.state_version


def thumbnail_png(image: np.ndarray, side: int = THUMB_SIDE) -> bytes:
    """A PNG no larger than `side` px on its longest side (uint8 RGB in)."""
    from PIL import Image

    im = Image.fromarray(image)
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def retained_image(part: Part, verdict: str, retention: str) -> tuple[Optional[bytes], str]:
    """The bytes stored with the record under the retention setting (None: no image kept). A
    RECHECK part is kept whole like an NG one: a person decides it from the image."""
    if verdict in ("NG", "RECHECK") or retention == "all":
        if part.data is not None:
            return part.data, part.suffix
        return encode_png(part.image), ".png"
    if retention == "thumbs":
        return thumbnail_png(part.image, THUMB_SIDE), ".png"
    return None, ""


class LinePipeline:
    """Runs a feed through a product's fitted detector, one part at a time.

    station: stored with every record and sent with every message.
    retention: "all", "ng" or "thumbs" (see RETENTIONS); every part gets a record regardless.
    software_trigger: when True a part is taken only per `trigger()` call (OPC UA, MQTT, a key);
        otherwise the feed's own events (file arrival) are the triggers.
    """

    def __init__(self, ws: Workspace, product: str, feed: Feed, *, station: str,
                 retention: str = "all", software_trigger: bool = False, device: str = "cpu",
                 fault_retry_s: float = 1.0,
                 trigger_hint: str = "start it with --trigger software to take parts on request") -> None:
        if retention not in RETENTIONS:
            raise InspectorError(f"retention must be one of {', '.join(RETENTIONS)}, not '{retention}'")
        self.ws, self.feed, self.station = ws, feed, station
        self.retention, self.software_trigger, self.device = retention, software_trigger, device
        self.fault_retry_s = fault_retry_s
        self.trigger_hint = trigger_hint  # how to get a station that takes triggers, in its user's words
        self.detector, self.detector_version = load_fitted_detector(ws, product, device)
        self.product = product
        self.run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.state, self.reason = "stopped", ""
        self.inspected = self.ng = self.recheck = self.skipped = 0
        self.last: Optional[PartResult] = None
        self._listeners: list[PartListener] = []
        self._state_listeners: list[StateListener] = []
        self._triggers: queue.Queue[tuple[str, int, float]] = queue.Queue()
        self._seq_lock = threading.Lock()
        self._seq = 0
        self._pending_product: Optional[tuple[str, Detector, int]] = None

    # --- wiring --------------------------------------------------------------------------

    def add_listener(self, fn: PartListener) -> None:
        self._listeners.append(fn)

    def add_state_listener(self, fn: StateListener) -> None:
        self._state_listeners.append(fn)

    @property
    def threshold(self) -> float:
        return float(self.detector.calibration.threshold)

    def _next_id(self) -> tuple[str, int]:
        with self._seq_lock:
            self._seq += 1
            return f"{self.station}-{self.run_id}-{self._seq:06d}", self._seq

    def trigger(self) -> str:
        """A software trigger (any thread): queues one part; returns its part id at once."""
        if not self.software_trigger:
            raise InspectorError(f"this station is triggered by its source ({self.feed.description}); "
                                 f"{self.trigger_hint}")
        part_id, seq = self._next_id()
        self._triggers.put((part_id, seq, time.time()))
        return part_id

    def select_product(self, product: str) -> str:
        """Switch products from the next part on (any thread). Loads the fitted state now, so an
        unfitted product is refused here and the running one stays."""
        detector, version = load_fitted_detector(self.ws, product, self.device)
        self._pending_product = (product, detector, version)
        return f"product '{product}' selected (threshold {detector.calibration.threshold:.4f})"

    def reset_counts(self) -> str:
        """Start a new shift's counts (any thread); the part sequence goes on."""
        self.inspected = self.ng = self.recheck = 0
        return "counts reset"

    def _set_state(self, state: str, reason: str = "") -> None:
        if (state, reason) == (self.state, self.reason):
            return
        self.state, self.reason = state, reason
        for fn in self._state_listeners:
            try:
                fn(state, reason)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the line
                log.exception("state listener failed")

    # --- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event, max_parts: Optional[int] = None) -> None:
        """Inspect parts until `stop` is set, the replay ends or `max_parts` more were done.

        A feed fault (hot folder gone, camera unplugged) sets state "fault" and retries every
        `fault_retry_s` until it recovers; the part in progress always completes."""
        self._open_feed(stop)
        done = 0
        try:
            while not stop.is_set() and (max_parts is None or done < max_parts):
                if self.state == "fault":
                    if stop.wait(self.fault_retry_s):
                        break
                    self._open_feed(stop)
                    continue
                try:
                    part = self._take(stop)
                except CameraError as exc:
                    log.warning("%s", exc)
                    self._set_state("fault", str(exc))
                    continue
                if part is None:
                    if self.feed.finished:
                        break
                    continue
                try:
                    self.process(part)
                except InspectorError as exc:  # e.g. an image the engine cannot take: say so, go on
                    log.warning("part %s (%s) skipped: %s", part.part_id, part.name or "camera", exc)
                    self.skipped += 1
                    self.feed.done(part, 0, self.product)  # record 0: skipped, not tried again
                done += 1
        finally:
            self._set_state("stopped")

    def _open_feed(self, stop: threading.Event) -> None:
        try:
            self.feed.open()
        except CameraError as exc:
            log.warning("%s", exc)
            self._set_state("fault", str(exc))
            return
        self._set_state("running")

    def _take(self, stop: threading.Event) -> Optional[Part]:
        if not self.software_trigger:
            part = self.feed.next_part(timeout=0.2)
            if part is not None:
                part.part_id, part.seq = self._next_id()
            return part
        try:
            part_id, seq, wall = self._triggers.get(timeout=0.2)
        except queue.Empty:
            return None
        while not stop.is_set():  # the trigger is owed a part: wait for the source to give one
            part = self.feed.next_part(timeout=0.2)
            if part is not None:
                part.part_id, part.seq, part.trigger_wall = part_id, seq, wall
                return part
            if self.feed.finished:
                log.warning("trigger %s: the source has no more images", part_id)
                return None
        return None

    def process(self, part: Part) -> PartResult:
        """Score, record (files first, then the row), ledger, count, tell the listeners."""
        if self._pending_product is not None:
            self.product, self.detector, self.detector_version = self._pending_product
            self._pending_product = None
        if not part.part_id:
            part.part_id, part.seq = self._next_id()
        result = self.detector.predict(part.image)
        data, suffix = retained_image(part, result.verdict, self.retention)
        self.feed.begin(part, self.product)  # a crash from here on is settled by Ledger.recover
        rec = record_inspection(self.ws, self.product, result, source=self.feed.record_source,
                                image_bytes=data, image_suffix=suffix or ".png",
                                original_name=part.name or part.part_id, station=self.station)
        self.feed.done(part, rec.id, self.product)
        verdict_wall = time.time()
        self.inspected += 1
        self.ng += result.is_ng
        self.recheck += result.is_recheck
        out = PartResult(
            part_id=part.part_id, seq=part.seq, station=self.station, product=self.product,
            name=part.name, verdict=result.verdict, score=float(result.score),
            threshold=float(result.threshold), regions=regions_summary(result),
            n_regions=len(result.regions),
            image_path=str(self.ws.abs_path(rec.image_path)) if rec.image_path else None,
            record_id=rec.id, trigger_wall=part.trigger_wall or verdict_wall,
            verdict_wall=verdict_wall,
            cycle_ms=(verdict_wall - (part.trigger_wall or verdict_wall)) * 1000.0,
            inspect_ms=float(result.timings_ms.get("total", 0.0)), engine=result.engine_id,
            engine_version=result.engine_version, detector_version=self.detector_version,
            inspected=self.inspected, ng=self.ng, recheck=self.recheck, result=result, image=part.image)
        self.last = out
        for fn in self._listeners:
            try:
                fn(out)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the line
                log.exception("part listener failed")
        return out
