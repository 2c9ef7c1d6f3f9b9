"""Fit a product's engine, save the fitted state + calibration as one version, load it back.

State folder: products/<id>/state/v<N>/ holding the engine's files, calibration.json and
meta.json. It is written as a temp folder and renamed, then the product row is updated,
so a restart never refits and a crash never leaves a row pointing at half a state.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Optional

from ..core.errors import InspectorError
from ..core.image_io import atomic_write_bytes
from ..core.progress import CancelFn, ProgressFn
from ..engines.calibrate import fit_and_calibrate, recalibrate
from ..engines.detector import Calibration, Detector
from ..engines.registry import get_engine, make_model
from ..generate.rules import recall_defect  # the services join engines and the generator
from ..storage.workspace import Workspace
from . import products as product_svc
from .references import list_references, load_reference_images

_cache: dict[tuple[str, str, int, str], Detector] = {}
_cache_lock = threading.Lock()


def _write_json(path: Path, data: dict) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=1).encode())


def fit_product(ws: Workspace, product: str, engine: Optional[str] = None, device: str = "cpu",
                progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> Detector:
    """Fit and calibrate the product's engine on its references; store it as a new version."""
    info = product_svc.get_product(ws, product)
    engine_id = engine or info.engine
    spec = get_engine(engine_id)
    refs = list_references(ws, product)
    if len(refs) < spec.requirements.min_references:
        raise InspectorError(f"product '{product}' has {len(refs)} reference image(s); engine "
                             f"'{engine_id}' needs at least {spec.requirements.min_references}: "
                             f"add good images with `inspector refs add \"{product}\" FOLDER`")
    settings = {**info.engine_settings, "object_name": info.tags.get("object", info.name),
                "defect_words": info.defect_words}
    images = load_reference_images(ws, product)
    model, calibration = fit_and_calibrate(lambda: make_model(engine_id, settings, device), images,
                                           info.target_frr, progress, cancel, defect_maker=recall_defect)
    version = info.state_version + 1
    state_root = ws.product_dir(info.id) / "state"
    state_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=state_root))
    try:
        model.save(tmp)
        _write_json(tmp / "calibration.json", calibration.to_json())
        _write_json(tmp / "meta.json", {"engine": engine_id, "engine_version": model.version,
                                        "settings": model.settings, "references": [r.sha256 for r in refs],
                                        "version": version})
        final = state_root / f"v{version}"
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    product_svc.update_product(ws, product, engine=engine_id, state_path=ws.rel_path(final),
                               state_version=version, threshold=calibration.threshold)
    for old in state_root.glob("v*"):  # keep this version and the one before it
        if old.name[1:].isdigit() and int(old.name[1:]) < version - 1:
            shutil.rmtree(old, ignore_errors=True)
    detector = Detector(model, calibration, spec.region_label)
    with _cache_lock:
        _cache[(str(ws.root), product, version, device)] = detector
    return detector


def load_detector(ws: Workspace, product: str, device: str = "cpu") -> Detector:
    """The product's fitted detector (cached per state version); error if never fitted."""
    info = product_svc.get_product(ws, product)
    if not info.state_path:
        raise InspectorError(f"product '{product}' is not fitted yet: run `inspector fit \"{product}\"` "
                             "(inspect fits automatically when references exist)")
    key = (str(ws.root), product, info.state_version, device)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    folder = ws.abs_path(info.state_path)
    try:
        meta = json.loads((folder / "meta.json").read_text())
        calibration = Calibration.from_json(json.loads((folder / "calibration.json").read_text()))
    except (OSError, ValueError) as exc:
        raise InspectorError(f"fitted state of '{product}' is unreadable ({exc}); refit with "
                             f"`inspector fit \"{product}\"`") from None
    spec = get_engine(meta["engine"])
    model = spec.load_class().load(folder, meta.get("settings"), device)
    if info.threshold is not None and info.threshold != calibration.threshold:
        calibration.threshold = info.threshold  # the engineer moved the threshold by hand
    detector = Detector(model, calibration, spec.region_label)
    with _cache_lock:
        _cache[key] = detector
    return detector


def is_stale(ws: Workspace, product: str) -> bool:
    """True when references changed since the product was fitted."""
    info = product_svc.get_product(ws, product)
    if not info.state_path:
        return True
    try:
        meta = json.loads((ws.abs_path(info.state_path) / "meta.json").read_text())
    except (OSError, ValueError):
        return True
    return sorted(meta.get("references", [])) != sorted(r.sha256 for r in list_references(ws, product))


def get_calibration(ws: Workspace, product: str) -> Optional[Calibration]:
    """The product's stored calibration, or None when it was never fitted or is unreadable."""
    info = product_svc.get_product(ws, product)
    if not info.state_path:
        return None
    try:
        return Calibration.from_json(json.loads((ws.abs_path(info.state_path) / "calibration.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def set_target_frr(ws: Workspace, product: str, target_frr: float) -> Calibration:
    """Move the threshold to a new false-reject target using the stored good scores."""
    info = product_svc.get_product(ws, product)
    if not info.state_path:
        product_svc.update_product(ws, product, target_frr=target_frr)
        raise InspectorError(f"target saved; product '{product}' is not fitted yet, so there is no threshold")
    folder = ws.abs_path(info.state_path)
    cal = recalibrate(Calibration.from_json(json.loads((folder / "calibration.json").read_text())), target_frr)
    _write_json(folder / "calibration.json", cal.to_json())
    product_svc.update_product(ws, product, target_frr=target_frr, threshold=cal.threshold)
    with _cache_lock:
        for key in [k for k in _cache if k[0] == str(ws.root) and k[1] == product]:
            del _cache[key]
    return cal
