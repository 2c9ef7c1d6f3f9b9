"""Fit a product's engine, save the fitted state + calibration as one version, load it back.

State folder: products/<id>/state/v<N>/ holding the engine's files, calibration.json and
meta.json. It is written as a temp folder and renamed, then the product row is updated,
so a restart never refits and a crash never leaves a row pointing at half a state.

Published recipes: the row's state_path/state_version is the PUBLISHED state, the only one
inspection uses. A fit of a product that already has one writes a DRAFT: state/v<N> above the
published version, committed by the pointer file state/DRAFT (its number) instead of the row;
`publish_draft` points the row at it (engineer, audited). No schema change.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
from functools import partial
from pathlib import Path
from typing import Callable, Optional

from sqlalchemy.exc import DBAPIError

from ..core import ignore_regions as regions
from ..core.errors import InspectorError
from ..core.faults import fault_point
from ..core.image_io import atomic_write_bytes, temp_prefix
from ..core.progress import CancelFn, ProgressFn
from ..engines.calibrate import fit_and_calibrate, recalibrate
from ..engines.detector import Calibration, Detector
from ..engines.ignoring import UNSUPPORTED, regions_for, with_ignore_regions
from ..engines.registry import get_engine, make_model
from ..generate.rules import recall_defect  # the services join engines and the generator
from ..storage.workspace import Workspace, acquire_lock
from . import products as product_svc
from .audit import Actor
from .records import ProductInfo
from .references import list_references, load_reference_images

_cache: dict[tuple[str, str, int, str], Detector] = {}
_cache_lock = threading.Lock()


def _write_json(path: Path, data: dict, temp_dir: Optional[Path] = None) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=1).encode(), temp_dir)


FIT_LOCK_TIMEOUT_S = 15 * 60.0  # a second fit of one product waits this long for the first
# 0.01 % .. 20 % (the Products tab's slider stops there too): below, no threshold can be estimated
# from a few good images; above, a line would reject a fifth of its good parts.
FRR_MIN, FRR_MAX = 0.0001, 0.2


def _versions_on_disk(state_root: Path) -> list[int]:
    try:
        return [int(p.name[1:]) for p in state_root.iterdir() if p.name[:1] == "v" and p.name[1:].isdigit()]
    except FileNotFoundError:
        return []


DRAFT_POINTER = "DRAFT"  # state/DRAFT holds the draft's version number: the draft's commit


def draft_version(ws: Workspace, info: ProductInfo) -> Optional[int]:
    """The product's committed draft version (above the published one, folder on disk), or None."""
    state_root = ws.product_dir(info.id) / "state"
    try:
        version = int((state_root / DRAFT_POINTER).read_text().strip())
    except (OSError, ValueError):
        return None
    if version <= info.state_version or not (state_root / f"v{version}" / "meta.json").is_file():
        return None  # published since (a crash before the pointer was removed) or gone
    return version


def fit_product(ws: Workspace, product: str, engine: Optional[str] = None, device: str = "cpu",
                progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
                lock_timeout_s: float = FIT_LOCK_TIMEOUT_S, actor: Optional[Actor] = None,
                publish: Optional[bool] = None) -> Detector:
    """Fit and calibrate the product's engine on its references; store it as a new version.

    `publish` None: the new version is published only when the product has no published state
    (a first fit is usable at once); otherwise it is a draft until `publish_draft`. True: publish
    it now (the demo). Returns the new version's detector (the draft's, for a draft).

    One fit of a product runs at a time (a lock file, across processes): a second one waits,
    saying so through `progress`, and refuses after `lock_timeout_s`. The new version number is
    above the row's and above every state/v<N> on disk, so a fit killed after its rename never
    blocks the next one.
    """
    info = product_svc.get_product(ws, product)
    lock = ws.product_lock(info.id)
    acquire_lock(lock, f"waiting for another fit of '{product}' to finish…", lock_timeout_s, progress, cancel)
    try:
        return _fit_locked(ws, product, engine, device, progress, cancel, actor, publish)
    finally:
        lock.release()


def _fit_locked(ws: Workspace, product: str, engine: Optional[str], device: str,
                progress: Optional[ProgressFn], cancel: Optional[CancelFn],
                actor: Optional[Actor] = None, publish: Optional[bool] = None) -> Detector:
    info = product_svc.get_product(ws, product)  # again: a fit we waited for changed it
    engine_id = engine or info.engine
    spec = get_engine(engine_id)
    refs = list_references(ws, product)
    if len(refs) < spec.requirements.min_references:
        raise InspectorError(f"product '{product}' has {len(refs)} reference image(s); engine "
                             f"'{engine_id}' needs at least {spec.requirements.min_references}: "
                             f"add good images with `inspector refs add \"{product}\" FOLDER`")
    settings = engine_settings(info)
    images = load_reference_images(ws, product)
    model, calibration = fit_engine(engine_id, settings, images, info.target_frr, device, progress, cancel)
    calibration = _carry_fixed_score(ws, info, engine_id, model.version, calibration)
    state_root = ws.product_dir(info.id) / "state"
    version = max([info.state_version, *_versions_on_disk(state_root)]) + 1
    final = state_root / f"v{version}"
    try:
        state_root.mkdir(parents=True, exist_ok=True)
        ws.temp_dir.mkdir(exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(), dir=ws.temp_dir))
    except OSError as exc:
        raise ws.write_error(exc, state_root, "the fitted state was not changed") from None
    try:
        model.save(tmp)
        _write_json(tmp / "calibration.json", calibration.to_json())
        _write_json(tmp / "meta.json", {"engine": engine_id, "engine_version": model.version,
                                        "settings": model.settings, "references": [r.sha256 for r in refs],
                                        "version": version, "fitted_at": _now()})
        fault_point("state.after_write", tmp)
        os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ws.write_error(exc, state_root, "the fitted state was not changed") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fault_point("state.after_rename", final)
    if publish is None:
        publish = not info.state_path
    if publish:
        try:
            product_svc.update_product(ws, product, actor=actor, engine=engine_id, state_path=ws.rel_path(final),
                                       state_version=version, threshold=calibration.threshold)
        except DBAPIError as exc:
            shutil.rmtree(final, ignore_errors=True)  # never committed: nothing refers to it
            raise ws.database_error(exc, "the fitted state was not changed") from None
        keep = {version, version - 1}
    else:
        try:
            atomic_write_bytes(state_root / DRAFT_POINTER, str(version).encode(), ws.temp_dir)
        except OSError as exc:
            shutil.rmtree(final, ignore_errors=True)  # never committed: nothing refers to it
            raise ws.write_error(exc, state_root, "the fitted state was not changed") from None
        keep = {version, info.state_version, info.state_version - 1}  # the draft beside the published
    fault_point("state.after_row", final)
    for old in _versions_on_disk(state_root):  # older drafts and versions before the published one
        if old not in keep:
            shutil.rmtree(state_root / f"v{old}", ignore_errors=True)
    detector = spec.build_detector(model, calibration)
    with _cache_lock:
        _cache[(str(ws.root), product, version, device)] = detector
    return detector


def _carry_fixed_score(ws: Workspace, info: ProductInfo, engine_id: str, engine_version: object,
                       calibration: Calibration) -> Calibration:
    """The published state's fixed score stays for a new fit whose scores mean the same (same
    engine and engine version); otherwise the target sets the threshold and the note says why."""
    if not info.state_path:
        return calibration
    folder = ws.abs_path(info.state_path)
    try:
        old = Calibration.from_json(json.loads((folder / "calibration.json").read_text()))
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError, TypeError):
        return calibration
    if not old.fixed_score:
        return calibration
    score = info.threshold if info.threshold is not None else old.threshold
    if _same_scale(meta, {"engine": engine_id, "engine_version": engine_version}):
        calibration.threshold, calibration.fixed_score = score, True
        calibration.synthetic_recall = None  # it was measured at the target's threshold
        calibration.note = f"the fixed score {score:.4f} of v{info.state_version} is kept"
    else:
        calibration.note = (f"the fixed score {score:.4f} of v{info.state_version} was set for engine "
                            f"{meta.get('engine')} version {meta.get('engine_version')}, whose scores are on "
                            f"another scale, so the {calibration.target_frr:.1%} false-reject target sets the "
                            f"threshold again — check it, or set a score again with `inspector threshold "
                            f"\"{info.name}\" --score S`")
    return calibration


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def require_draft(ws: Workspace, info: ProductInfo) -> int:
    """The draft's version; an error when there is none (checked before a password is asked)."""
    version = draft_version(ws, info)
    if version is None:
        raise InspectorError(f"product '{info.name}' has no draft to publish — change its references "
                             f"or settings and run `inspector fit \"{info.name}\"` first (nothing was changed)")
    return version


def publish_draft(ws: Workspace, product: str, actor: Optional[Actor] = None) -> int:
    """Make the product's draft the published state (the one inspection uses); audited.
    Returns the published version. No draft: an error, nothing changed."""
    from . import audit

    info = product_svc.get_product(ws, product)
    lock = ws.product_lock(info.id)  # a fit writing a newer draft meanwhile would be published half-seen
    acquire_lock(lock, f"waiting for a fit of '{product}' to finish…", FIT_LOCK_TIMEOUT_S)
    try:
        info = product_svc.get_product(ws, product)
        version = require_draft(ws, info)
        folder = ws.product_dir(info.id) / "state" / f"v{version}"
        try:
            meta = json.loads((folder / "meta.json").read_text())
            cal = Calibration.from_json(json.loads((folder / "calibration.json").read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise InspectorError(f"the draft v{version} of '{product}' is unreadable ({exc}) — fit it again "
                                 f"with `inspector fit \"{product}\"` (nothing was changed)") from None
        try:
            with ws.session() as s:
                p = product_svc.get_product_row(s, product)
                audit.record(s, actor, "recipe published", p.state_version, version, product=p)
                for key, value in (("engine", meta["engine"]), ("threshold", cal.threshold),
                                   ("state_path", ws.rel_path(folder)), ("state_version", version)):
                    old = getattr(p, key)
                    setattr(p, key, value)
                    if key in product_svc.AUDITED and old != value and key != "state_version":
                        audit.record(s, actor, product_svc.AUDITED[key], old, value, product=p)
        except DBAPIError as exc:
            raise ws.database_error(exc, "nothing was published") from None
        try:
            (ws.product_dir(info.id) / "state" / DRAFT_POINTER).unlink()
        except OSError:
            pass  # a pointer at or below the published version is no draft (draft_version)
    finally:
        lock.release()
    with _cache_lock:
        for key in [k for k in _cache if k[0] == str(ws.root) and k[1] == product and k[2] != version]:
            del _cache[key]
    return version


def state_summary(ws: Workspace, info: ProductInfo, version: Optional[int]) -> Optional[dict]:
    """What the Products tab and `products show` put side by side for one state version:
    version, engine, threshold, target (or fixed score), held-out good scores, synthetic recall, fitted_at."""
    if version is None or (version == info.state_version and not info.state_path):
        return None
    folder = ws.product_dir(info.id) / "state" / f"v{version}"
    try:
        meta = json.loads((folder / "meta.json").read_text())
        cal = Calibration.from_json(json.loads((folder / "calibration.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    published = version == info.state_version
    return {"version": version, "engine": meta.get("engine", ""), "fitted_at": meta.get("fitted_at", ""),
            "threshold": info.threshold if published and info.threshold is not None else cal.threshold,
            "target_frr": cal.target_frr, "fixed_score": cal.fixed_score,
            "target_text": "fixed score" if cal.fixed_score else f"{cal.target_frr:.1%}", "good_scores": len(cal.good_scores),
            "synthetic_recall": cal.synthetic_recall, "references": len(meta.get("references", []))}


def draft_pending_note(ws: Workspace, product: str) -> str:
    """'' when inspection runs what the engineer last fitted; else what to do ("draft pending")."""
    info = product_svc.get_product(ws, product)
    if not info.state_path:
        return ""
    draft = draft_version(ws, info)
    if draft is not None:
        return (f"draft pending: v{draft} is fitted but not published; inspecting with v{info.state_version} "
                f"— `inspector publish \"{product}\"` to use it")
    changed = stale_reason(ws, product)
    if changed:
        when = f"since v{info.state_version} was published" if changed.endswith("changed") else \
            f"(v{info.state_version} is published)"
        return (f"draft pending: {changed} {when} — "
                f"`inspector fit \"{product}\"` then `inspector publish \"{product}\"`")
    return ""


RECHECK_KEY = "recheck_band"  # a verdict setting kept with the engine settings, never given to an engine
RECHECK_MAX = 0.5


def recheck_band(info: ProductInfo) -> float:
    """The product's recheck band (fraction of the threshold; 0 = off)."""
    try:
        return min(max(float(info.engine_settings.get(RECHECK_KEY, 0.0)), 0.0), RECHECK_MAX)
    except (TypeError, ValueError):
        return 0.0


def set_recheck_band(ws: Workspace, product: str, band: float, actor: Optional[Actor] = None) -> ProductInfo:
    """Set the recheck band (0 .. 0.5 of the threshold; 0 turns it off); audited as a setting."""
    try:
        band = float(band)
    except (TypeError, ValueError):
        band = float("nan")
    if not 0.0 <= band <= RECHECK_MAX:  # also refuses NaN
        raise InspectorError(f"the recheck band must be between 0 and {RECHECK_MAX:g} (a fraction of the "
                             "threshold, e.g. 0.05 for ± 5 %; 0 turns it off) — nothing was changed")
    info = product_svc.get_product(ws, product)
    settings = {k: v for k, v in info.engine_settings.items() if k != RECHECK_KEY}
    if band:
        settings[RECHECK_KEY] = band
    return product_svc.update_product(ws, product, actor=actor, engine_settings=settings)


def engine_settings(info: ProductInfo) -> dict:
    """What an engine is made with: the product's engine settings plus its object, tags and words."""
    settings = {k: v for k, v in info.engine_settings.items() if k != RECHECK_KEY}
    return {**settings, "object_name": info.tags.get("object", info.name),
            "tags": dict(info.tags), "defect_words": info.defect_words}


def fit_engine(engine_id: str, settings: dict, images: list, target_frr: float, device: str = "cpu",
               progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> tuple:
    """(fitted model, calibration). With no good images (engines with min_references 0) the
    model is fitted on none and the engine's own default calibration is used."""
    spec = get_engine(engine_id)
    boxes = regions_for(engine_id, settings)  # refused before any work
    if not images:
        model = with_ignore_regions(make_model(engine_id, settings, device), settings)
        model.fit([], progress=progress, cancel=cancel)
        return model, spec.finish_calibration(None, settings, target_frr)
    model, calibration = fit_and_calibrate(lambda: with_ignore_regions(make_model(engine_id, settings, device),
                                                                       settings), images,
                                           target_frr, progress, cancel,
                                           defect_maker=partial(recall_defect, ignore=boxes))
    return model, spec.finish_calibration(calibration, settings, target_frr)


def load_detector(ws: Workspace, product: str, device: str = "cpu") -> Detector:
    """The product's fitted detector (cached per state version); error if never fitted."""
    info = product_svc.get_product(ws, product)
    if not info.state_path:
        raise InspectorError(f"product '{product}' is not fitted yet: run `inspector fit \"{product}\"` "
                             "(inspect fits automatically when references exist)")
    key = (str(ws.root), product, info.state_version, device)
    with _cache_lock:
        if key in _cache:
            _cache[key].recheck_band = recheck_band(info)  # a verdict setting: no refit, applies at once
            return _cache[key]
    folder = ws.abs_path(info.state_path)
    try:
        meta = json.loads((folder / "meta.json").read_text())
        calibration = Calibration.from_json(json.loads((folder / "calibration.json").read_text()))
    except (OSError, ValueError) as exc:
        raise InspectorError(f"fitted state of '{product}' is unreadable ({exc}); refit with "
                             f"`inspector fit \"{product}\"`") from None
    spec = get_engine(meta["engine"])
    try:
        model = with_ignore_regions(spec.load_class().load(folder, meta.get("settings"), device),
                                    meta.get("settings"))
    except InspectorError as exc:  # e.g. fitted by an older engine version: a new fit is a draft
        raise InspectorError(f"{exc} — for '{product}': `inspector fit \"{product}\"`, then "
                             f"`inspector publish \"{product}\"` (in the window: Fit, then Publish)") from None
    if info.threshold is not None and info.threshold != calibration.threshold:
        calibration.threshold = info.threshold  # the engineer moved the threshold by hand
    detector = spec.build_detector(model, calibration)
    detector.recheck_band = recheck_band(info)
    with _cache_lock:
        _cache[key] = detector
    return detector


def stale_reason(ws: Workspace, product: str) -> str:
    """Why the published state no longer fits the recipe ("references changed", "ignore regions
    changed", ...), or "" when it does."""
    info = product_svc.get_product(ws, product)
    if not info.state_path:
        return "not fitted yet"
    try:
        meta = json.loads((ws.abs_path(info.state_path) / "meta.json").read_text())
    except (OSError, ValueError):
        return "the fitted state is unreadable"
    if sorted(meta.get("references", [])) != sorted(r.sha256 for r in list_references(ws, product)):
        return "references changed"
    fitted = (meta.get("settings") or {}).get(regions.KEY) or []
    if [list(b) for b in fitted] != [list(b) for b in ignore_regions_of(info)]:
        return "ignore regions changed"
    return ""


def is_stale(ws: Workspace, product: str) -> bool:
    """True when references or ignore regions changed since the product was fitted."""
    return bool(stale_reason(ws, product))


def ignore_regions_of(info: ProductInfo) -> list[regions.Box]:
    """The recipe's ignore regions ([] when none or unreadable)."""
    try:
        return regions.check_regions(info.engine_settings.get(regions.KEY))
    except InspectorError:
        return []


def set_ignore_regions(ws: Workspace, product: str, boxes: list, actor: Optional[Actor] = None) -> ProductInfo:
    """Replace the recipe's ignore regions ([] clears them); audited as a setting. They take
    effect with the next fit (a draft, then publish), since the threshold depends on them."""
    boxes = regions.check_regions(boxes)
    info = product_svc.get_product(ws, product)
    if boxes and info.engine in UNSUPPORTED:
        raise InspectorError(f"engine '{info.engine}' of '{product}' does not take ignore regions "
                             f"({UNSUPPORTED[info.engine]}) — nothing was changed")
    settings = {k: v for k, v in info.engine_settings.items() if k != regions.KEY}
    if boxes:
        settings[regions.KEY] = [list(b) for b in boxes]
    return product_svc.update_product(ws, product, actor=actor, engine_settings=settings)


def get_calibration(ws: Workspace, product: str) -> Optional[Calibration]:
    """The product's stored calibration, or None when it was never fitted or is unreadable."""
    info = product_svc.get_product(ws, product)
    if not info.state_path:
        return None
    try:
        return Calibration.from_json(json.loads((ws.abs_path(info.state_path) / "calibration.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def set_target_frr(ws: Workspace, product: str, target_frr: float,
                   actor: Optional[Actor] = None) -> Calibration:
    """Move the threshold to a new false-reject target (a fraction, 0.0001 .. 0.5) using the
    stored good scores (a fixed score ends). A refused target changes nothing."""
    try:
        target = float(target_frr)
    except (TypeError, ValueError):
        target = float("nan")
    if not FRR_MIN <= target <= FRR_MAX:  # also refuses NaN
        shown = f"{target * 100:g} %" if target == target else repr(target_frr)
        raise InspectorError(f"false-reject target must be between {FRR_MIN:.2%} and {FRR_MAX:.0%}, "
                             f"not {shown} — give a percentage such as 1 (for 1 % of good parts "
                             "rejected); nothing was changed")
    return _rewrite_calibration(ws, product, lambda cal: recalibrate(cal, target), actor, target_frr=target)


def set_threshold_score(ws: Workspace, product: str, score: float,
                        actor: Optional[Actor] = None) -> Calibration:
    """Set the threshold to a score the engineer chose (NG when score >= it). It stays when the
    product is fitted again with the same engine version; `set_target_frr` returns to a target."""
    try:
        value = float(score)
    except (TypeError, ValueError):
        value = float("nan")
    if not math.isfinite(value):
        raise InspectorError(f"the threshold score must be a number, not {score!r} — give a score such "
                             "as 2.5 (see the histogram in `inspector products show`); nothing was changed")

    def fixed(cal: Calibration) -> Calibration:
        return Calibration(**{**cal.to_json(), "threshold": value, "fixed_score": True, "note": ""})

    return _rewrite_calibration(ws, product, fixed, actor, draft_too=_same_scale)


def _same_scale(a: dict, b: dict) -> bool:
    """Two states' meta.json: their scores mean the same (same engine and engine version)."""
    return a.get("engine") == b.get("engine") and a.get("engine_version") == b.get("engine_version")


def _rewrite_calibration(ws: Workspace, product: str, change: Callable[[Calibration], Calibration],
                         actor: Optional[Actor], draft_too: Callable[[dict, dict], bool] = lambda _p, _d: True,
                         **row: float) -> Calibration:
    """The published state's calibration.json, the draft's when `draft_too(published meta, draft
    meta)` (so publishing it keeps the new threshold rule), and the product row's threshold (and
    `row`): all or none, under the product's fit lock."""
    info = product_svc.get_product(ws, product)
    if not info.state_path:
        raise InspectorError(f"product '{product}' is not fitted yet, so there is no threshold to move — "
                             f"run `inspector fit \"{product}\"` first (nothing was changed)")
    lock = ws.product_lock(info.id)  # a fit replacing the state meanwhile would undo this
    acquire_lock(lock, f"waiting for a fit of '{product}' to finish…", FIT_LOCK_TIMEOUT_S)
    written: list[tuple[Path, bytes]] = []

    def undo() -> None:
        for path, before in reversed(written):
            try:
                atomic_write_bytes(path, before, ws.temp_dir)
            except OSError:
                pass  # best effort: inspection takes the row's threshold over the file's (load_detector)

    try:
        info = product_svc.get_product(ws, product)
        folder = ws.abs_path(info.state_path)
        try:
            before = (folder / "calibration.json").read_bytes()
            cal = change(Calibration.from_json(json.loads(before)))
        except (OSError, ValueError, TypeError) as exc:
            raise InspectorError(f"fitted state of '{product}' is unreadable ({exc}) — refit with "
                                 f"`inspector fit \"{product}\"`") from None
        files = [(folder / "calibration.json", before, cal)]
        draft = draft_version(ws, info)
        if draft is not None:
            dfolder = ws.product_dir(info.id) / "state" / f"v{draft}"
            try:  # the metas only when a draft waits: they say whether its scores mean the same
                dbefore = (dfolder / "calibration.json").read_bytes()
                if draft_too(json.loads((folder / "meta.json").read_text()),
                             json.loads((dfolder / "meta.json").read_text())):
                    files.append((dfolder / "calibration.json", dbefore, change(Calibration.from_json(json.loads(dbefore)))))
            except (OSError, ValueError, TypeError):
                pass  # an unreadable draft cannot be published either (publish_draft says so)
        for path, old, new in files:
            try:
                _write_json(path, new.to_json(), ws.temp_dir)
            except OSError as exc:
                undo()
                raise ws.write_error(exc, path.parent) from None
            written.append((path, old))
        try:
            product_svc.update_product(ws, product, actor=actor, threshold=cal.threshold, **row)
        except BaseException as exc:
            undo()  # the row kept the old threshold: so do the files
            if isinstance(exc, DBAPIError):
                raise ws.database_error(exc) from None
            raise
    finally:
        lock.release()
    with _cache_lock:
        for key in [k for k in _cache if k[0] == str(ws.root) and k[1] == product]:
            del _cache[key]
    return cal
