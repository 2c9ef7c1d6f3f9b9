"""What a trigger hands the pipeline (Part) and what the pipeline hands the line (PartResult)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

import numpy as np

from ..core.result import InspectionResult

MAX_REGIONS_IN_MESSAGE = 10  # a message summarises the strongest regions, not every one


@dataclass
class Part:
    """One triggered image before scoring.

    image: uint8 RGB (H, W, 3). name: the file name below the source folder, "" for a camera.
    data: the file's bytes as the camera wrote them (None for a camera frame).
    identity: (size, mtime_ns) of the file, the key of the processed-files ledger.
    trigger_wall: `time.time()` of the trigger (file arrival, software trigger or snap).
    """

    image: np.ndarray
    name: str = ""
    data: Optional[bytes] = None
    suffix: str = ".png"
    identity: Optional[tuple[int, int]] = None
    trigger_wall: float = 0.0
    part_id: str = ""
    seq: int = 0


def iso(t: float) -> str:
    """Epoch seconds -> '2026-12-01T09:45:12.345Z'."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class PartResult:
    """One part's verdict, as every listener (log, MQTT, OPC UA, a GUI) receives it.

    seq: 1, 2, ... per pipeline run (the part counter). cycle_ms: trigger to verdict;
    inspect_ms: the engine's own time. image_path: the stored image (absolute), None when the
    retention setting kept no image of this part. result/image: for a GUI; not published.
    """

    part_id: str
    seq: int
    station: str
    product: str
    name: str
    verdict: str
    score: float
    threshold: float
    regions: list[dict[str, Any]]
    n_regions: int
    image_path: Optional[str]
    record_id: int
    trigger_wall: float
    verdict_wall: float
    cycle_ms: float
    inspect_ms: float
    engine: str
    engine_version: str
    detector_version: int
    inspected: int
    ng: int
    recheck: int = 0  # RECHECK verdicts counted (not NG: a person decides them)
    result: Optional[InspectionResult] = field(default=None, repr=False, compare=False)
    image: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    def to_message(self) -> dict[str, Any]:
        """The JSON object sent to MES/dashboards (one per part)."""
        return {
            "station": self.station, "product": self.product, "part_id": self.part_id,
            "seq": self.seq, "name": self.name, "verdict": self.verdict,
            "score": round(self.score, 6), "threshold": round(self.threshold, 6),
            "regions": {"count": self.n_regions, "top": self.regions},
            "image_path": self.image_path, "record_id": self.record_id,
            "trigger_time": iso(self.trigger_wall), "verdict_time": iso(self.verdict_wall),
            "cycle_ms": round(self.cycle_ms, 2), "inspect_ms": round(self.inspect_ms, 2),
            "engine": self.engine, "engine_version": self.engine_version,
            "detector_version": self.detector_version,
            "counts": {"inspected": self.inspected, "ng": self.ng, "recheck": self.recheck},
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_message(), separators=(",", ":")).encode()

    def log_line(self) -> str:
        return (f"{iso(self.verdict_wall)} {self.part_id} {self.verdict} {self.score:8.4f} "
                f"(thr {self.threshold:.4f}) {self.cycle_ms:6.1f} ms  {self.name or '-'}  "
                f"#{self.record_id}  [{self.inspected} parts, {self.ng} NG"
                + (f", {self.recheck} RECHECK]" if self.recheck else "]"))


def regions_summary(result: InspectionResult) -> list[dict[str, Any]]:
    """The strongest regions as plain JSON: box (x0, y0, x1, y1), label, score, area."""
    top = sorted(result.regions, key=lambda r: r.score, reverse=True)[:MAX_REGIONS_IN_MESSAGE]
    return [{"box": [int(v) for v in r.box], "label": r.label, "score": round(float(r.score), 4),
             "area_px": int(r.area_px)} for r in top]
