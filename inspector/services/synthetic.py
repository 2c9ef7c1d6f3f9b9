"""Synthetic sets: generate, review (accept/reject), export as MVTec layout, delete.

A set belongs to a product and has a name, a method, its parameters and a seed. Its files are
    <workspace>/products/<id>/synthetic/<set name>/set.json         the set's recipe
    <workspace>/products/<id>/synthetic/<set name>/NNNNN.png        defective image
    <workspace>/products/<id>/synthetic/<set name>/NNNNN_mask.png   255 = defect
and each sample is a SyntheticSample row whose `parameters` JSON holds {"set", "index",
"recipe", "reference", "filter"}. Files are written first (temp + rename), then the row is
committed, so a crash leaves at most a stray file. Samples are indexed: running a set again
continues at the first index without a row (resume), with the same per-sample seeds.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from ..core.errors import Cancelled, ConflictError, InspectorError, NotFoundError
from ..core.faults import fault_point
from ..core.image_io import atomic_write_bytes, encode_png, load_image, load_mask
from ..core.progress import CancelFn, ProgressFn, check_cancel, report
from ..storage.models import ReferenceImage, SyntheticSample
from ..storage.workspace import Workspace
from ..generate.shards import Shard
from .products import get_product_row

log = logging.getLogger(__name__)

SET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")
MAX_SOURCES = 4  # other references offered to a method as patch/texture sources
MAX_COUNT = 100_000


@dataclass(frozen=True)
class SampleInfo:
    """One stored sample (paths absolute)."""

    id: int
    product: str
    set_name: str
    index: int
    image_path: Path
    mask_path: Optional[Path]
    method: str
    defect: str  # the defect word, or the rule kind when no word was given
    filter_score: Optional[float]
    accepted: bool
    filter: dict[str, Any]
    recipe: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class SampleFailure:
    """A sample that could not be made; the run logs it and goes on."""

    index: int
    message: str


@dataclass
class SetInfo:
    product: str
    name: str
    method: str
    defect: str
    seed: int
    count: int  # requested
    params: dict[str, Any]
    created: str
    n_samples: int = 0
    n_accepted: int = 0
    folder: Optional[Path] = None
    samples: list[SampleInfo] = field(default_factory=list)


@dataclass
class RunSettings:
    """What a run makes; the set's recipe (set.json) stores all but `count` and `references`."""

    method: str = "rules"
    count: int = 20
    defect: str = ""  # a defect word; "" cycles through the product's words
    kind: str = ""  # a method-specific kind (rules: "poisson", ...), overrides the word
    scale: float = 1.0
    per_image: int = 1  # defects per sample
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    references: Optional[Sequence[int]] = None  # reference ids to use; None = all
    filter: bool = True  # run the retrieval filter and store its decision
    shard: Optional["Shard"] = None  # this process's share of the indices (None = all); not in the recipe

    def recipe(self) -> dict[str, Any]:
        return {"method": self.method, "defect": self.defect, "kind": self.kind, "scale": self.scale,
                "per_image": self.per_image, "seed": self.seed, "params": dict(self.params),
                "references": list(self.references) if self.references is not None else None,
                "filter": self.filter}


def check_set_name(name: str) -> str:
    name = (name or "").strip()
    if not SET_NAME.match(name):
        raise InspectorError(f"set name '{name}' is not usable — use 1-60 letters, digits, '.', '_' or '-', "
                             f"starting with a letter or digit")
    return name


def default_set_name(method: str, defect: str, kind: str, seed: int) -> str:
    """Same recipe, same set name: so running the same command again resumes the set."""
    what = re.sub(r"[^A-Za-z0-9]+", "-", kind or defect or "mixed").strip("-") or "mixed"
    return f"{method}-{what}-s{seed}"[:60]


def sample_seed(set_seed: int, index: int) -> int:
    """The seed of sample `index`: independent of the count and of which samples exist."""
    return int(np.random.SeedSequence([int(set_seed) & 0xFFFFFFFF, int(index)]).generate_state(1)[0])


def _set_dir(ws: Workspace, product_id: int, name: str) -> Path:
    return ws.product_dir(product_id) / "synthetic" / name


def _read_set_json(folder: Path) -> Optional[dict[str, Any]]:
    try:
        return json.loads((folder / "set.json").read_text())
    except (OSError, ValueError):
        return None


def _info(row: SyntheticSample, ws: Workspace, product: str) -> SampleInfo:
    p = row.parameters or {}
    rec = p.get("recipe", {})
    defect = rec.get("defect", {}).get("word") or ",".join(d.get("kind", "") for d in rec.get("defects", []))
    return SampleInfo(id=row.id, product=product, set_name=p.get("set", ""), index=int(p.get("index", -1)),
                      image_path=ws.abs_path(row.image_path),
                      mask_path=ws.abs_path(row.mask_path) if row.mask_path else None,
                      method=row.method, defect=defect or "defect", filter_score=row.filter_score,
                      accepted=bool(row.accepted), filter=dict(p.get("filter", {})), recipe=rec,
                      created_at=row.created_at)


def _rows(s, product_id: int, name: str) -> list[SyntheticSample]:
    rows = s.scalars(select(SyntheticSample).where(SyntheticSample.product_id == product_id)
                     .order_by(SyntheticSample.id)).all()
    return [r for r in rows if (r.parameters or {}).get("set") == name]


# ------------------------------------------------------------------------------------ generating
@dataclass
class _Reference:
    id: int
    sha256: str
    image: np.ndarray
    foreground: np.ndarray


def _load_references(ws: Workspace, product: str, ids: Optional[Sequence[int]],
                     cancel: Optional[CancelFn]) -> list[_Reference]:
    from ..generate.masks import foreground_mask

    with ws.session() as s:
        p = get_product_row(s, product)
        rows = s.scalars(select(ReferenceImage).where(ReferenceImage.product_id == p.id)
                         .order_by(ReferenceImage.id)).all()
        rows = [(r.id, r.sha256, r.path) for r in rows]
    if ids is not None:
        wanted = set(int(i) for i in ids)
        unknown = wanted - {r[0] for r in rows}
        if unknown:
            raise NotFoundError(f"product '{product}' has no reference #{min(unknown)} "
                                f"— list them with `inspector refs list \"{product}\"`")
        rows = [r for r in rows if r[0] in wanted]
    if not rows:
        raise InspectorError(f"product '{product}' has no reference images to generate from — add good "
                             f"images with `inspector refs add \"{product}\" FOLDER`")
    out = []
    for rid, sha, rel in rows:
        check_cancel(cancel)
        img = load_image(ws.abs_path(rel))
        out.append(_Reference(rid, sha, img, foreground_mask(img)))
    return out


def _sources(refs: list[_Reference], k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    others = [refs[(k + j) % len(refs)] for j in range(1, min(len(refs), MAX_SOURCES + 1))]
    return [(r.image, r.foreground) for r in others if r.image.shape == refs[k].image.shape]


def _defect_for(settings: RunSettings, words: list[str], index: int):
    from ..generate.contract import DefectSpec

    word = settings.defect or (words[index % len(words)] if words else "")
    return DefectSpec(word=word, kind=settings.kind, scale=settings.scale, count=settings.per_image)


def make_one(refs: list[_Reference], settings: RunSettings, words: list[str], index: int,
             region: Optional[np.ndarray] = None, cancel: Optional[CancelFn] = None,
             progress: Optional[ProgressFn] = None, object_name: str = ""):
    """(reference used, Sample) for sample `index` of a run — deterministic in (seed, index).
    `progress` receives a method's own steps (diffusion steps)."""
    from ..generate.contract import GenerationContext
    from ..generate.registry import generate

    k = index % len(refs)
    ref = refs[k]
    params = {**({"object": object_name} if object_name and settings.method != "rules" else {}), **settings.params}
    ctx = GenerationContext(sources=_sources(refs, k), region=region, params=params, cancel=cancel,
                            progress=progress)
    sample = generate(settings.method, ref.image, ref.foreground, _defect_for(settings, words, index),
                      sample_seed(settings.seed, index), ctx)
    sample.recipe["reference"] = ref.sha256
    return ref, sample


def preview(ws: Workspace, product: str, settings: RunSettings, n: int = 4,
            region: Optional[np.ndarray] = None, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelFn] = None) -> Iterator[tuple[int, np.ndarray, np.ndarray, dict]]:
    """A few samples in memory, nothing written: yields (index, image, mask, recipe)."""
    from ..generate.registry import get_method

    spec = get_method(settings.method, settings.params)
    unit = STEP_UNITS if spec.reports_steps else 1
    words = _product_words(ws, product)
    obj = _object_name(ws, product)
    refs = _load_references(ws, product, settings.references, cancel)
    for i in range(n):
        check_cancel(cancel)
        report(progress, i * unit, n * unit, f"preview {i + 1} of {n}")
        steps = _steps(progress if unit > 1 else None, i, n, f"preview {i + 1} of {n}")
        _, sample = make_one(refs, settings, words, i, region, cancel, steps, obj)
        yield i, sample.image, sample.mask, sample.recipe
    report(progress, n * unit, n * unit, "preview ready")


def _product_words(ws: Workspace, product: str) -> list[str]:
    with ws.session() as s:
        return [w for w in (get_product_row(s, product).defect_words or []) if w.strip()]


def _object_name(ws: Workspace, product: str) -> str:
    """The product's object word for prompts: its "object" tag, else its name."""
    with ws.session() as s:
        p = get_product_row(s, product)
        return str((p.tags or {}).get("object") or p.name)


STEP_UNITS = 1000  # progress units per sample while a method reports its own steps


def _steps(progress: Optional[ProgressFn], done: int, total: int, what: str) -> Optional[ProgressFn]:
    """Progress of a method's steps inside one sample, as a share of the whole run."""
    if progress is None:
        return None

    def inner(step: int, steps: int, message: str) -> None:
        frac = step / steps if steps else 0.0
        progress(int((done + frac) * STEP_UNITS), total * STEP_UNITS, f"{what}: {message}")

    return inner


def _start_set(ws: Workspace, product: str, name: str, settings: RunSettings) -> tuple[int, Path, set[int]]:
    """Create or reopen a set; returns (product id, folder, indices already stored)."""
    with ws.session() as s:
        p = get_product_row(s, product)
        pid = p.id
        done = {int((r.parameters or {}).get("index", -1)) for r in _rows(s, pid, name)}
    folder = _set_dir(ws, pid, name)
    # processes sharing a job: the first creates set.json, the others find it and compare
    with _set_lock(ws, pid, name):
        _write_set_json(folder, name, product, settings)
    return pid, folder, done


def _set_lock(ws: Workspace, pid: int, name: str):  # noqa: ANN201 - a filelock.FileLock
    from filelock import FileLock

    folder = ws.root / ".locks"
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise ws.write_error(exc, folder) from None
    return FileLock(folder / f"synthetic-{pid}-{name}.lock")


def _write_set_json(folder: Path, name: str, product: str, settings: RunSettings) -> None:
    stored = _read_set_json(folder)
    recipe = settings.recipe()
    if stored is not None:
        if stored.get("recipe") != recipe:
            diff = sorted(k for k in recipe if stored.get("recipe", {}).get(k) != recipe[k])
            raise ConflictError(f"set '{name}' of '{product}' was made with other settings ({', '.join(diff)}) "
                                f"— rerun it with the same settings to resume, or choose another --set-name")
    data = stored or {"name": name, "product": product,
                      "created": datetime.now().isoformat(timespec="seconds"), "recipe": recipe}
    if stored is None or settings.count > int(stored.get("count", 0)):
        data["count"] = max(settings.count, int(data.get("count", 0)))
        atomic_write_bytes(folder / "set.json", json.dumps(data, indent=1).encode())


def generate_set(ws: Workspace, product: str, name: str, settings: RunSettings,
                 region: Optional[np.ndarray] = None, progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelFn] = None) -> Iterator[SampleInfo | SampleFailure]:
    """Make `settings.count` samples into set `name`, yielding each as it is stored.

    Indices that already have a row are skipped (resume). A sample that fails is yielded as a
    SampleFailure and logged; the run goes on. A full disk or cancel stops the run; the sample
    being written then has no row (its file, if any, is overwritten on resume).
    """
    from ..generate.registry import get_method

    name = check_set_name(name)
    if not 1 <= settings.count <= MAX_COUNT:
        raise InspectorError(f"count is {settings.count} — use 1 to {MAX_COUNT}")
    spec = get_method(settings.method, settings.params)
    unit = STEP_UNITS if spec.reports_steps else 1
    words = _product_words(ws, product)
    obj = _object_name(ws, product)
    refs = _load_references(ws, product, settings.references, cancel)
    pid, folder, done = _start_set(ws, product, name, settings)
    shard = settings.shard or Shard()
    mine = [i for i in range(settings.count) if shard.owns(i)]
    done = {i for i in done if shard.owns(i)}
    todo = [i for i in mine if i not in done]
    filt = None
    if settings.filter and todo:
        from ..generate.filter import RetrievalFilter

        filt = RetrievalFilter.fit([r.image for r in refs], settings.params)
    total = len(mine)
    for n, index in enumerate(todo):
        check_cancel(cancel)
        report(progress, (len(done) + n) * unit, total * unit, f"sample {index + 1} of {settings.count}")
        try:
            ref, sample = make_one(refs, settings, words, index, region, cancel,
                                   _steps(progress if unit > 1 else None, len(done) + n, total,
                                          f"sample {index + 1} of {settings.count}"), obj)
        except Cancelled:
            raise
        except (InspectorError, ValueError, ArithmeticError) as exc:
            log.warning("synthetic sample %d of set %s failed: %s", index, name, exc)
            yield SampleFailure(index, str(exc))
            continue
        decision = filt.judge(sample.image, sample.mask, ref.image) if filt is not None else {}
        check_cancel(cancel)
        img_path, mask_path = folder / f"{index:05d}.png", folder / f"{index:05d}_mask.png"
        atomic_write_bytes(mask_path, encode_png(sample.mask.astype(np.uint8) * 255))
        atomic_write_bytes(img_path, encode_png(sample.image))
        fault_point("synth.after_files", img_path)
        params = {"set": name, "index": index, "recipe": sample.recipe, "reference": ref.sha256,
                  "filter": decision}
        try:
            info = _store_row(ws, product, pid, spec.id, img_path, mask_path, sample, params, decision)
        except DBAPIError as exc:  # busy past the wait (another process holds the database), full disk
            raise ws.database_error(exc, f"sample {index} has no row (rerun the same command to resume)") from None
        yield info
    report(progress, total * unit, total * unit, f"set '{name}': {total} samples")


def _store_row(ws: Workspace, product: str, pid: int, method: str, img_path: Path, mask_path: Path,
               sample, params: dict, decision: dict) -> SampleInfo:  # noqa: ANN001
    """The sample's row, after its files; BEGIN IMMEDIATE waits while other processes write."""
    with ws.write_session() as s:
        row = SyntheticSample(product_id=pid, image_path=ws.rel_path(img_path),
                              mask_path=ws.rel_path(mask_path), method=method,
                              prompt=sample.recipe.get("prompt", ""), parameters=params,
                              filter_score=decision.get("similarity"),
                              accepted=bool(decision.get("keep", True)))
        s.add(row)
        s.flush()
        return _info(row, ws, product)


# ------------------------------------------------------------------------------------ reviewing
def list_sets(ws: Workspace, product: Optional[str] = None) -> list[SetInfo]:
    """Every set (of one product, or all), with sample and accepted counts."""
    from ..storage.models import Product

    with ws.session() as s:
        if product is not None:
            prods = [get_product_row(s, product)]
        else:
            prods = list(s.scalars(select(Product).order_by(Product.name)))
        plist = [(p.id, p.name) for p in prods]
        rows = s.scalars(select(SyntheticSample).where(
            SyntheticSample.product_id.in_([pid for pid, _ in plist]))).all()
        counts: dict[tuple[int, str], list[int]] = {}
        for r in rows:
            c = counts.setdefault((r.product_id, (r.parameters or {}).get("set", "")), [0, 0])
            c[0] += 1
            c[1] += bool(r.accepted)
    out = []
    for pid, pname in plist:
        base = ws.product_dir(pid) / "synthetic"
        for folder in sorted(base.iterdir()) if base.is_dir() else []:
            data = _read_set_json(folder)
            if data is None:
                continue
            out.append(_set_info(pname, folder, data, *counts.get((pid, folder.name), [0, 0])))
    return out


def _set_info(product: str, folder: Path, data: dict, n: int = 0, acc: int = 0) -> SetInfo:
    rec = data.get("recipe", {})
    return SetInfo(product=product, name=data.get("name", folder.name), method=rec.get("method", "?"),
                   defect=rec.get("kind") or rec.get("defect") or "(product's words)",
                   seed=int(rec.get("seed", 0)), count=int(data.get("count", 0)), params=rec,
                   created=data.get("created", ""), n_samples=n, n_accepted=acc, folder=folder)


def get_set(ws: Workspace, product: str, name: str) -> SetInfo:
    """A set with its samples, in index order."""
    with ws.session() as s:
        p = get_product_row(s, product)
        pid, pname = p.id, p.name
        samples = sorted((_info(r, ws, pname) for r in _rows(s, pid, name)), key=lambda x: x.index)
    folder = _set_dir(ws, pid, name)
    data = _read_set_json(folder)
    if data is None:
        known = ", ".join(x.name for x in list_sets(ws, product)) or "none yet"
        raise NotFoundError(f"product '{product}' has no synthetic set '{name}' (sets: {known}) "
                            f"— make one with `inspector generate \"{product}\" --set-name {name}`")
    info = _set_info(pname, folder, data, len(samples), sum(x.accepted for x in samples))
    info.samples = samples
    return info


def set_accepted(ws: Workspace, sample_id: int, accepted: bool) -> SampleInfo:
    """The engineer's decision on one sample (it overrides the filter's)."""
    from ..storage.models import Product

    with ws.session() as s:
        row = s.get(SyntheticSample, sample_id)
        if row is None:
            raise NotFoundError(f"no synthetic sample #{sample_id} — see `inspector synth show PRODUCT SET`")
        row.accepted = bool(accepted)
        params = dict(row.parameters or {})
        params["reviewed"] = "accepted" if accepted else "rejected"
        row.parameters = params
        s.flush()
        return _info(row, ws, s.get(Product, row.product_id).name)


def refilter_set(ws: Workspace, product: str, name: str, thresholds: dict[str, float]) -> tuple[int, int]:
    """Re-decide every sample the engineer has not reviewed, from its stored scores, with new
    thresholds (the histogram's handles). Returns (kept, dropped)."""
    from ..generate.filter import decide

    kept = dropped = 0
    with ws.session() as s:
        p = get_product_row(s, product)
        for row in _rows(s, p.id, name):
            params = dict(row.parameters or {})
            scores = params.get("filter") or {}
            if "similarity" not in scores:
                continue
            scores = decide(scores, thresholds)
            params["filter"] = scores
            row.parameters = params
            if "reviewed" not in params:
                row.accepted = scores["keep"]
            kept += bool(row.accepted)
            dropped += not row.accepted
    return kept, dropped


def delete_set(ws: Workspace, product: str, name: str) -> int:
    """Delete a set's rows, then its files; returns the number of samples deleted."""
    info = get_set(ws, product, name)
    with ws.session() as s:
        p = get_product_row(s, product)
        rows = _rows(s, p.id, name)
        for r in rows:
            s.delete(r)
        n = len(rows)
    # rows first: a crash now leaves stray files, never rows pointing at nothing
    shutil.rmtree(info.folder, ignore_errors=True)
    return n


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "defect"


def export_set(ws: Workspace, product: str, name: str, dest: Path, include_rejected: bool = False,
               progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> Path:
    """Export as an MVTec-AD category: dest/<set>/train/good (the product's references),
    test/<defect>/NNN.png and ground_truth/<defect>/NNN_mask.png. Written into a temp folder
    renamed at the end; an existing dest/<set> is refused. Returns the category folder."""
    info = get_set(ws, product, name)
    samples = [x for x in info.samples if include_rejected or x.accepted]
    if not samples:
        raise InspectorError(f"set '{name}' has no accepted samples to export — accept some, "
                             f"or pass --include-rejected")
    dest = Path(dest).expanduser()
    target = dest / name
    if target.exists():
        raise ConflictError(f"{target} already exists — choose another destination or remove it")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest))
    try:
        with ws.session() as s:
            p = get_product_row(s, product)
            refs = [r.path for r in s.scalars(select(ReferenceImage).where(ReferenceImage.product_id == p.id)
                                              .order_by(ReferenceImage.id))]
        (tmp / "train" / "good").mkdir(parents=True)
        for i, rel in enumerate(refs):
            src = ws.abs_path(rel)
            shutil.copyfile(src, tmp / "train" / "good" / f"{i:03d}{src.suffix.lower()}")
        counts: dict[str, int] = {}
        total = len(samples)
        for i, x in enumerate(samples):
            check_cancel(cancel)
            report(progress, i, total, f"exporting {i + 1} of {total}")
            kind = _slug(x.defect)
            k = counts.get(kind, 0)
            counts[kind] = k + 1
            (tmp / "test" / kind).mkdir(parents=True, exist_ok=True)
            (tmp / "ground_truth" / kind).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(x.image_path, tmp / "test" / kind / f"{k:03d}.png")
            if x.mask_path is not None:
                shutil.copyfile(x.mask_path, tmp / "ground_truth" / kind / f"{k:03d}_mask.png")
        (tmp / "recipes.json").write_text(json.dumps(
            [{"index": x.index, "defect": x.defect, "accepted": x.accepted, "filter": x.filter,
              "recipe": x.recipe} for x in samples], indent=1))
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report(progress, len(samples), len(samples), f"exported {len(samples)} samples")
    return target


def load_sample(info: SampleInfo) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(image, bool mask or None) of a stored sample."""
    img = load_image(info.image_path)
    mask = load_mask(info.mask_path, img.shape[:2]) if info.mask_path is not None else None
    return img, mask


# ------------------------------------------------------------------------------------ speed
def bench_method(method: str = "rules", size: int = 512, n: int = 200, kind: str = "", seed: int = 0,
                 encode: bool = True, progress: Optional[ProgressFn] = None,
                 params: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Samples per second of one method at size x size on the procedural demo products
    (washer: an object; fabric: a texture), 4 references each, foregrounds computed once (as a
    run does). `encode` adds PNG encoding of image and mask (what a run writes)."""
    import time

    from ..generate.contract import DefectSpec, GenerationContext
    from ..generate.masks import foreground_mask
    from ..generate.procedural import render_good
    from ..generate.registry import generate, get_method

    params = dict(params or {})
    if method != "rules":
        params.setdefault("object", "washer")
    spec = get_method(method, params)
    defect = DefectSpec(kind=kind) if method == "rules" else DefectSpec(word=kind or "scratch")
    rng = np.random.default_rng(seed)
    products = []
    for name in ("washer", "fabric"):
        imgs = [render_good(name, rng, size) for _ in range(4)]
        products.append([(im, foreground_mask(im)) for im in imgs])
    times: list[float] = []
    kinds: dict[str, int] = {}
    for i in range(n):
        refs = products[i % 2]
        img, fg = refs[i % 4]
        ctx = GenerationContext(sources=[r for j, r in enumerate(refs) if j != i % 4], params=params)
        if i == 0 and method != "rules":  # load the weights outside the timing
            generate(method, img, fg, defect, seed, ctx)
        t0 = time.perf_counter()
        sample = generate(method, img, fg, defect, seed * 100_003 + i, ctx)
        if encode:
            encode_png(sample.image), encode_png(sample.mask.astype(np.uint8) * 255)
        times.append(time.perf_counter() - t0)
        k = ",".join(d.get("kind", "?") for d in sample.recipe.get("defects", [])) or method
        kinds[k] = kinds.get(k, 0) + 1
        report(progress, i + 1, n, f"sample {i + 1} of {n}")
    t = np.array(times)
    return {"method": spec.id, "version": spec.version, "size": size, "n": n, "encode": encode,
            "samples_per_s": float(n / t.sum()), "ms_p50": float(np.median(t) * 1000),
            "ms_p95": float(np.quantile(t, 0.95) * 1000), "kinds": kinds}
