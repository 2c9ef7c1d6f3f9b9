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
from ..engines.detector import Detector
from ..engines.registry import get_engine
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
    """The product's PUBLISHED detector; never refits one that exists (a change waits as a draft,
    said in the note: "draft pending"). Only a product never fitted is fitted and published here."""
    info = product_svc.get_product(ws, product)
    if engine and engine != info.engine:
        spec = get_engine(engine)
        refs = load_reference_images(ws, product)
        if len(refs) < spec.requirements.min_references:
            raise InspectorError(f"product '{product}' has no reference images: add good images with "
                                 f"`inspector refs add \"{product}\" FOLDER`")
        model, cal = engine_state.fit_engine(engine, engine_state.engine_settings(info), refs,
                                             info.target_frr, device, progress, cancel)
        return spec.build_detector(model, cal), \
            f"engine '{engine}' fitted for this run only (the product's engine is '{info.engine}')"
    if info.state_path:  # the published state, whatever changed since
        return engine_state.load_detector(ws, product, device), engine_state.draft_pending_note(ws, product)
    if info.n_references == 0 and get_engine(info.engine).requirements.min_references > 0:
        raise InspectorError(f"product '{product}' has no reference images: add good images with "
                             f"`inspector refs add \"{product}\" FOLDER`")
    det = engine_state.fit_product(ws, product, device=device, progress=progress, cancel=cancel)
    version = product_svc.get_product(ws, product).state_version
    return det, f"fitted '{info.engine}' on {info.n_references} reference(s) and published it as v{version} (first use)"


def check_batch(paths: Sequence[str | Path]) -> list[tuple[Path, str]]:
    """The (file, name) pairs of a batch, refused unless at least one image decodes.

    Call it before `detector_for`: a batch that cannot be inspected must not refit the product
    (a new state version, a moved threshold). Later unreadable files are skipped one by one.
    """
    named = expand_with_names(paths)
    reasons: list[str] = []
    for f, _name in named:
        try:
            load_image(f)
            return named
        except (ImageError, OSError) as exc:
            reasons.append(user_message(exc) or str(exc))
    if len(named) == 1:
        raise ImageError(reasons[0])
    raise ImageError(f"none of the {len(named)} image(s) could be read ({'; '.join(reasons[:3])}) — "
                     "check the files and try again")


def inspect_paths(ws: Workspace, product: str, paths: Sequence[str | Path], detector: Detector,
                  source: str = "batch", record: bool = True, save_overlays: Optional[Path] = None,
                  station: str = "", operator: str = "", progress: Optional[ProgressFn] = None,
                  cancel: Optional[CancelFn] = None,
                  named: Optional[list[tuple[Path, str]]] = None) -> Iterator[InspectedImage]:
    """Inspect and record each image; an unreadable one is yielded with `error` set and skipped.
    `named`: the pairs from `check_batch`, so the paths are not expanded twice."""
    named = expand_with_names(paths) if named is None else named
    files = [f for f, _ in named]
    if save_overlays is not None:
        save_overlays = Path(save_overlays)
        try:
            save_overlays.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InspectorError(f"cannot create the overlay folder {save_overlays}: "
                                 f"{user_message(exc) or exc}") from None
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
