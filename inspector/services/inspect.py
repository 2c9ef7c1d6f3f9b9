"""Inspect images for a product and record every result (files first, then rows)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from ..core.errors import ImageError, InspectorError, user_message
from ..core.image_io import load_image, save_png
from ..core.overlay import render_overlay
from ..core.progress import CancelFn, ProgressFn, check_cancel, report
from ..core.result import InspectionResult
from ..engines.calibrate import fit_and_calibrate
from ..engines.detector import Detector
from ..engines.registry import get_engine, make_model
from ..generate.rules import recall_defect  # the services join engines and the generator
from ..storage.workspace import Workspace
from . import engine_state
from . import products as product_svc
from .inspections import record_inspection
from .records import InspectionInfo
from .references import expand_with_names, load_reference_images


@dataclass
class InspectedImage:
    """One file of a batch: inspected (result set) or skipped because it could not be read (error set)."""

    path: Path
    name: str  # path below the folder the user opened, e.g. "scratch/001.png"
    image: Optional[np.ndarray]  # the decoded uint8 RGB image, so callers need not decode it again
    result: Optional[InspectionResult]
    record: Optional[InspectionInfo]
    error: Optional[str] = None  # why the file was skipped; then image, result and record are None


def detector_for(ws: Workspace, product: str, engine: Optional[str] = None, device: str = "cpu",
                 progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> tuple[Detector, str]:
    """The product's detector, fitting first when needed. Returns (detector, note for the user)."""
    info = product_svc.get_product(ws, product)
    if engine and engine != info.engine:
        spec = get_engine(engine)
        settings = {**info.engine_settings, "object_name": info.tags.get("object", info.name),
                    "defect_words": info.defect_words}
        refs = load_reference_images(ws, product)
        if not refs:
            raise InspectorError(f"product '{product}' has no reference images")
        model, cal = fit_and_calibrate(lambda: make_model(engine, settings, device), refs,
                                       info.target_frr, progress, cancel, defect_maker=recall_defect)
        return Detector(model, cal, spec.region_label), \
            f"engine '{engine}' fitted for this run only (the product's engine is '{info.engine}')"
    if info.n_references == 0:
        raise InspectorError(f"product '{product}' has no reference images: add good images with "
                             f"`inspector refs add \"{product}\" FOLDER`")
    if engine_state.is_stale(ws, product):
        det = engine_state.fit_product(ws, product, device=device, progress=progress, cancel=cancel)
        return det, f"fitted '{info.engine}' on {info.n_references} reference(s)"
    return engine_state.load_detector(ws, product, device), ""


def inspect_paths(ws: Workspace, product: str, paths: Sequence[str | Path], detector: Detector,
                  source: str = "batch", record: bool = True, save_overlays: Optional[Path] = None,
                  station: str = "", operator: str = "", progress: Optional[ProgressFn] = None,
                  cancel: Optional[CancelFn] = None) -> Iterator[InspectedImage]:
    """Inspect and record each image; an unreadable one is yielded with `error` set and skipped."""
    named = expand_with_names(paths)
    files = [f for f, _ in named]
    if save_overlays is not None:
        save_overlays = Path(save_overlays)
        try:
            save_overlays.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InspectorError(f"cannot create overlay folder {save_overlays}: {exc.strerror}") from None
    for i, (f, name) in enumerate(named):
        check_cancel(cancel)
        report(progress, i, len(files), f"inspecting {name}")
        try:
            data = f.read_bytes()
            image = load_image(f)
        except (ImageError, OSError) as exc:
            yield InspectedImage(f, name, None, None, None, error=user_message(exc) or str(exc))
            continue
        result = detector.predict(image)
        rec = None
        if record:
            rec = record_inspection(ws, product, result, source=source, image_bytes=data,
                                    image_suffix=f.suffix, original_name=name, station=station,
                                    operator=operator)
        if save_overlays is not None:
            save_png(save_overlays / f"{f.stem}_{result.verdict}.png", render_overlay(image, result))
        yield InspectedImage(f, name, image, result, rec)
    report(progress, len(files), len(files), "done")


def inspect_array(ws: Workspace, product: str, image: np.ndarray, detector: Detector,
                  source: str = "camera", record: bool = True, **kw: str) -> tuple[InspectionResult, Optional[InspectionInfo]]:
    """Inspect one in-memory frame (camera); recorded as a PNG when `record`."""
    from ..core.image_io import encode_png

    result = detector.predict(image)
    rec = record_inspection(ws, product, result, source=source, image_bytes=encode_png(image),
                            image_suffix=".png", **kw) if record else None
    return result, rec
