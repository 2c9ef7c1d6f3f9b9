"""Train, list, activate, roll back and delete a product's local detectors.

Detector folder: products/<id>/detectors/v<N>/ with head.safetensors, head.json (what the
`local` engine needs) or, for base `vlad`, vlad_adapters.safetensors + vlad_adapters.json (what
the `vlad` engine loads as its trained adapters), and meta.json (settings, history, validation). It is written as a temp
folder and renamed, then the Detector row is added; checkpoints of the run in progress live in
products/<id>/training/run/ until it finishes. Activating points the product's `local` engine
at the folder and refits + recalibrates it on the references like any engine.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
from sqlalchemy import select

from ..core.errors import InspectorError, NotFoundError
from ..core.image_io import atomic_write_bytes, load_image
from ..core.progress import CancelFn, ProgressFn
from ..storage.models import Detector as DetectorRow, Inspection
from ..storage.workspace import Workspace
from . import products as product_svc

BASES = ("standalone", "vlad")
EXAMPLES = "examples.npz"  # validation images with both maps (arrays only, no pickle)


@dataclass
class DetectorInfo:
    id: int
    version: int
    path: str  # relative to the workspace
    base_engine: str
    active: bool
    created_at: datetime
    metrics: dict
    training_set: dict


def _version(path: str) -> int:
    name = Path(path).name
    return int(name[1:]) if name[:1] == "v" and name[1:].isdigit() else 0


def _info(row: DetectorRow) -> DetectorInfo:
    return DetectorInfo(row.id, _version(row.weights_path), row.weights_path, row.base_engine, bool(row.active),
                        row.created_at, dict(row.metrics or {}), dict(row.training_set or {}))


HIGH_QUALITY_METHODS = ("cut", "inpaint")  # synthetic sets the `diffusion` stage trains on


def check_base(base: str) -> None:
    if base not in BASES:
        raise InspectorError(f"unknown base '{base}' — use one of: {', '.join(BASES)}")


def engine_of(base: str) -> str:
    """The engine that runs a detector of this base: the head refines `standalone` as engine
    `local`; VLAD adapters are the `vlad` engine's own weights."""
    return "vlad" if base == "vlad" else "local"


def check_vlad_weights(settings: dict) -> None:
    """Training VLAD adapters needs the product's CLIP model here; the error names it and the fix."""
    from ..core.errors import EngineUnavailable
    from ..engines.registry import get_engine
    from ..engines.vlad.config import DEFAULT_MODEL_ID

    status = get_engine("vlad").availability({**settings, "adapters_path": None})
    if not status.ok:
        model = settings.get("model_id") or DEFAULT_MODEL_ID
        raise EngineUnavailable(f"training VLAD adapters needs the CLIP weights '{model}' — {status.reason}")


def high_quality_samples(ws: Workspace, product: str) -> list[tuple[Path, Optional[Path], Optional[int]]]:
    """(image, mask, index of the reference it was made from, in `list_references` order, or None)
    of the accepted samples of the product's CUT / inpainting sets."""
    from . import synthetic
    from .references import list_references

    index = {r.sha256: i for i, r in enumerate(list_references(ws, product))}
    out = []
    for info in synthetic.list_sets(ws, product):
        if info.method in HIGH_QUALITY_METHODS and info.n_accepted:
            out += [(x.image_path, x.mask_path, index.get(x.recipe.get("reference")))
                    for x in synthetic.get_set(ws, product, info.name).samples
                    if x.accepted and x.image_path.is_file()]
    return out


def high_quality_count(ws: Workspace, product: str) -> int:
    """How many accepted CUT / inpainting samples the product has (the sets' counts: no sample
    is read, so the Training tab can ask on every refresh)."""
    from . import synthetic

    return sum(info.n_accepted for info in synthetic.list_sets(ws, product) if info.method in HIGH_QUALITY_METHODS)


def parse_stages(text: str) -> tuple[str, ...]:
    from ..train.families import STAGES

    stages = tuple(s.strip() for s in text.split(",") if s.strip())
    if not stages or any(s not in STAGES for s in stages) or len(set(stages)) != len(stages):
        raise InspectorError(f"--stages takes one or both of {', '.join(STAGES)} in the order to train, "
                             f"e.g. rules,diffusion — not '{text}'")
    return stages


def missed_defect_images(ws: Workspace, product_id: int) -> list[np.ndarray]:
    """Images of inspections the operator flagged "missed defect": real defects for validation."""
    with ws.session() as s:
        paths = s.scalars(select(Inspection.image_path).where(Inspection.product_id == product_id,
                                                              Inspection.flag == "missed_defect")).all()
    out = []
    for rel in paths:
        if rel and ws.abs_path(rel).is_file():
            try:
                out.append(load_image(ws.abs_path(rel)))
            except InspectorError:
                continue  # an unreadable stored image is left out of validation, not fatal
    return out


def run_dir(ws: Workspace, product_id: int) -> Path:
    return ws.product_dir(product_id) / "training" / "run"


def has_checkpoint(ws: Workspace, product: str) -> bool:
    from ..train import checkpoints

    info = product_svc.get_product(ws, product)
    return checkpoints.latest(run_dir(ws, info.id) / "checkpoints") is not None


def train_product(ws: Workspace, product: str, config: Any = None, base: str = "standalone",
                  resume: bool = False, progress: Optional[Callable[[Any], None]] = None,
                  cancel: Optional[CancelFn] = None, status: Optional[Callable[[str], None]] = None,
                  use_sets: bool = True) -> Optional[DetectorInfo]:
    """Train a local detector for `product`; a new inactive Detector row (activate it to use it).
    base "standalone": a head on the standalone engine (config: train.loop.TrainConfig); "vlad":
    VLAD's adapters (config: train.vlad_adapters.VladTrainConfig), which needs the CLIP weights.
    `use_sets`: the `diffusion` stage trains on the accepted samples of the product's CUT /
    inpainting sets when there are any (otherwise, or with False, a rule family stands in).
    Under `accelerate launch -m inspector train ...` every process trains its shard; only the main
    one writes the detector (the others return None)."""
    from ..engines.local import write_head
    from ..train.data import check_reference_count
    from ..train.head import HEAD_VERSION
    from ..train.loop import TrainConfig, train_head
    from .references import list_references, load_reference_images

    check_base(base)
    info = product_svc.get_product(ws, product)
    refs = list_references(ws, product)
    check_reference_count(len(refs))
    if base == "vlad":
        from ..train.vlad_adapters import VladTrainConfig

        from .engine_state import engine_settings

        cfg = config or VladTrainConfig()
        vlad_settings = engine_settings(info)  # the product's object name and defect words make the prompts
        check_vlad_weights(vlad_settings)
    else:
        cfg = config or TrainConfig()
    cfg.check()
    images = load_reference_images(ws, product)
    stored = high_quality_samples(ws, product) if use_sets and "diffusion" in cfg.stages else []
    folder = run_dir(ws, info.id)
    if not resume and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if base == "vlad":
        from ..engines.vlad.adapters import write_adapters
        from ..train.vlad_adapters import train_vlad_adapters

        result = train_vlad_adapters(images, cfg, folder, settings=vlad_settings, progress=progress, cancel=cancel,
                                     resume=resume, real_defects=missed_defect_images(ws, info.id),
                                     synthetic=stored, status=status)

        def write_files(tmp: Path) -> None:
            write_adapters(tmp, result.arrays, result.meta)
    else:
        result = train_head(images, cfg, folder, settings=info.engine_settings, progress=progress, cancel=cancel,
                            resume=resume, real_defects=missed_defect_images(ws, info.id), synthetic=stored,
                            status=status)
        head_meta = {"norm": [list(r) for r in result.norm], "work_hw": list(result.work_hw), "width": cfg.width,
                     "n_in": result.n_in, "head_version": HEAD_VERSION}

        def write_files(tmp: Path) -> None:
            write_head(tmp, result.state_dict, head_meta)
    from accelerate import PartialState

    if not PartialState().is_main_process:  # under `accelerate launch`: one process writes the result
        return None
    root = ws.product_dir(info.id) / "detectors"
    root.mkdir(parents=True, exist_ok=True)
    with ws.session() as s:
        used = [_version(p) for p in s.scalars(select(DetectorRow.weights_path)
                                               .where(DetectorRow.product_id == info.id)).all()]
    counter = root / "last_version.json"  # numbers are never reused, even after a delete
    try:
        last = int(json.loads(counter.read_text())["last"])
    except (OSError, ValueError, KeyError, TypeError):
        last = 0
    version = max([last, *used, *(_version(str(p)) for p in root.glob("v*"))]) + 1
    training_set = {**result.data, "references": [r.sha256 for r in refs], "config": cfg.to_json()}
    metrics = {"validation": result.validation, "history": result.history}
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        write_files(tmp)
        if result.examples:
            buf = io.BytesIO()
            np.savez(buf, **result.examples)
            atomic_write_bytes(tmp / EXAMPLES, buf.getvalue())
        atomic_write_bytes(tmp / "meta.json", json.dumps({"version": version, "base": base, **training_set,
                                                          **metrics}, indent=1).encode())
        final = root / f"v{version}"
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_bytes(counter, json.dumps({"last": version}).encode())
    with ws.session() as s:
        row = DetectorRow(product_id=info.id, weights_path=ws.rel_path(final), base_engine=base,
                          training_set=training_set, metrics=metrics, active=False)
        s.add(row)
        s.flush()
        out = _info(row)
    shutil.rmtree(folder, ignore_errors=True)  # the run is done: its checkpoints are no longer needed
    return out


def list_detectors(ws: Workspace, product: str) -> list[DetectorInfo]:
    info = product_svc.get_product(ws, product)
    with ws.session() as s:
        rows = s.scalars(select(DetectorRow).where(DetectorRow.product_id == info.id)).all()
        return sorted((_info(r) for r in rows), key=lambda d: d.version)


def _find(ws: Workspace, product: str, version: int) -> DetectorInfo:
    found = [d for d in list_detectors(ws, product) if d.version == version]
    if not found:
        known = ", ".join(f"v{d.version}" for d in list_detectors(ws, product)) or "none yet"
        raise NotFoundError(f"product '{product}' has no detector v{version} (known: {known}) — "
                            f"see `inspector detectors list \"{product}\"`")
    return found[0]


def activate(ws: Workspace, product: str, version: int, device: str = "cpu",
             progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
             actor: Optional[Any] = None) -> DetectorInfo:
    """Make detector v<version> the one `inspect`, Live and eval use: the product's engine becomes
    `local` (base standalone) or `vlad` with these trained adapters (base vlad), refitted and
    recalibrated on its references. Nothing changes if that fails."""
    from . import engine_state

    det = _find(ws, product, version)
    info = product_svc.get_product(ws, product)
    old_settings, old_engine = dict(info.engine_settings), info.engine
    new_settings = {k: v for k, v in old_settings.items() if k not in ("detector_path", "adapters_path")}
    key = "adapters_path" if det.base_engine == "vlad" else "detector_path"
    product_svc.update_product(ws, product, engine_settings={**new_settings, key: str(ws.abs_path(det.path))})
    try:
        # published at once: activating is the engineer's audited choice of what the line runs (no draft step)
        engine_state.fit_product(ws, product, engine=engine_of(det.base_engine), device=device, progress=progress,
                                 cancel=cancel, actor=actor, publish=True)
    except BaseException:
        product_svc.update_product(ws, product, engine_settings=old_settings, engine=old_engine)
        raise
    from .audit import record

    with ws.session() as s:
        rows = s.scalars(select(DetectorRow).where(DetectorRow.product_id == info.id)).all()
        before = next((_version(r.weights_path) for r in rows if r.active), None)
        for row in rows:
            row.active = row.id == det.id
        record(s, actor, "detector activated", f"v{before}" if before else None, f"v{version}",
               product_name=info.name, product_id=info.id)
    return _find(ws, product, version)


def active_detector(ws: Workspace, product: str) -> Optional[DetectorInfo]:
    return next((d for d in list_detectors(ws, product) if d.active), None)


def detector_in_use(ws: Workspace, product: str) -> Optional[int]:
    """Version of the trained detector the product's published state runs (what inspect and Live
    score with: a `local` head or `vlad` adapters); None when it runs none or is not fitted."""
    info = product_svc.get_product(ws, product)
    if not info.state_path:
        return None
    try:
        meta = json.loads((ws.abs_path(info.state_path) / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    key = {"local": "detector_path", "vlad": "adapters_path"}.get(meta.get("engine")) if isinstance(meta, dict) else None
    if key is None:
        return None
    path = (meta.get("settings") or {}).get(key)
    return (_version(str(path)) or None) if path else None


def roll_back(ws: Workspace, product: str, device: str = "cpu", progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelFn] = None, actor: Optional[Any] = None) -> DetectorInfo:
    """Activate the version before the active one."""
    current = active_detector(ws, product)
    if current is None:
        raise InspectorError(f"product '{product}' has no active detector to roll back from — activate one "
                             f"with `inspector detectors activate \"{product}\" VERSION`")
    older = [d for d in list_detectors(ws, product) if d.version < current.version]
    if not older:
        raise InspectorError(f"v{current.version} is the oldest detector of '{product}': there is none to roll "
                             "back to")
    return activate(ws, product, older[-1].version, device, progress, cancel, actor)


def delete_detector(ws: Workspace, product: str, version: int) -> None:
    """Delete an inactive detector (row first, then its folder: a crash leaves only a stray folder)."""
    det = _find(ws, product, version)
    if det.active:
        raise InspectorError(f"v{version} is the active detector of '{product}' — activate another one "
                             "(or roll back) before deleting it")
    with ws.session() as s:
        row = s.get(DetectorRow, det.id)
        if row is not None:
            s.delete(row)
    shutil.rmtree(ws.abs_path(det.path), ignore_errors=True)


def load_examples(ws: Workspace, det: DetectorInfo) -> dict[str, np.ndarray]:
    """The detector's example validation images and maps ({} when it has none or they are unreadable)."""
    try:
        with np.load(ws.abs_path(det.path) / EXAMPLES, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError):
        return {}


def train_for_eval(references: Sequence[np.ndarray], settings: Optional[dict] = None, device: str = "cpu",
                   config: Any = None, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelFn] = None) -> Any:
    """A fitted LocalModel trained on synthetic defects of `references` only (for `inspector eval`):
    the head is trained, then the standalone part is fitted on all references."""
    from ..engines.local import LocalModel
    from ..train.loop import TrainConfig, train_head
    from ..train.head import HEAD_VERSION

    cfg = config or TrainConfig()
    cfg.device = device
    total = cfg.epochs

    def on_progress(p: Any) -> None:
        if progress is not None:
            progress(p.samples, p.total_samples, f"training: epoch {p.epoch}/{total} loss {p.loss:.3f}")

    with tempfile.TemporaryDirectory(prefix="inspector-train-") as tmp:
        result = train_head(references, cfg, Path(tmp), settings=settings, progress=on_progress, cancel=cancel)
    model = LocalModel(settings, device)
    model.set_head(result.state_dict, {"norm": [list(r) for r in result.norm], "work_hw": list(result.work_hw),
                                       "width": cfg.width, "n_in": result.n_in, "head_version": HEAD_VERSION})
    model.fit(list(references), cancel=cancel)
    model.training = {"validation": result.validation, "history": result.history,
                      "kept": result.data.get("kept"),
                      "image_score": result.data.get("image_score")}
    return model
