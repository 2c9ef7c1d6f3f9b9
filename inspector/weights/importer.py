"""Import weights a user carried in (file, folder, .zip, .tar[.gz]) into the models folder.

Each candidate is identified by checksum, known file name + size, or layout (a folder with
model_index.json / config.json, a state dict with SAM's or open_clip's keys), copied into a
staging folder next to its destination, fully verified there, and only then renamed into
`<models>/<id>/`. Anything unknown, corrupt or ambiguous is reported and nothing is copied.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from ..core.progress import CancelFn, ProgressFn, check_cancel, report
from . import layouts
from .archives import check_free_space, extract_archive, is_archive, plan_archive
from .locations import resolve
from .manifest import FileSpec, Manifest, ModelSpec, WeightsError
from .verify import (VERIFIED, VerifyCache, check_folder, check_model, quick_file_problem,
                     sha256_file)

INSTALLED, ALREADY, CORRUPT, UNKNOWN = "installed", "already-installed", "corrupt", "unknown"


@dataclass
class ImportResult:
    """What happened to one thing found at the import path."""

    source: Path  # the file or folder identified (inside an archive: its extracted path)
    model_id: Optional[str]
    status: str  # installed | already-installed | corrupt | unknown
    path: Optional[Path]  # where the model now lives (installed / already-installed)
    message: str

    @property
    def ok(self) -> bool:
        return self.status in (INSTALLED, ALREADY)


@dataclass
class _Match:
    spec: ModelSpec
    how: str  # "sha256" | "name and size" | "layout" | "file name"
    target: Optional[str] = None  # file name inside the model folder (single-file models)
    problem: str = ""  # why the file cannot be read, when only its name identified it


def find_candidates(folder: Path) -> Iterator[tuple[Path, bool]]:
    """(path, is_folder_model) for model folders and loose weight files under `folder`."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        if any(part.startswith(".") for part in here.relative_to(folder).parts):
            dirnames[:] = []
            continue
        try:
            sig = layouts.folder_signature(here)
        except layouts.LayoutError:
            sig = ("broken", {})
        if sig is not None:
            dirnames[:] = []
            yield here, True
            continue
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(layouts.WEIGHT_SUFFIXES):
                yield here / name, False


def _target_name(spec: ModelSpec, path: Path) -> Optional[str]:
    names = [f.name for f in spec.files if not f.optional]
    if path.name in names:
        return path.name
    family = (layouts.TORCH_SUFFIXES if path.suffix.lower() in layouts.TORCH_SUFFIXES
              else (path.suffix.lower(),))
    return next((n for n in names if Path(n).suffix.lower() in family), None)


def identify_file(path: Path, manifest: Manifest) -> tuple[Optional[_Match], str]:
    """Which single-file model `path` is; (None, reason) when it is not one we know."""
    size = path.stat().st_size
    single = [m for m in manifest.models if not m.is_folder]
    for spec in single:
        for f in spec.files:
            if f.size is not None and f.size == size and f.basename == path.name:
                return _Match(spec, "name and size", f.name), ""
    if any(f.sha256 and (f.size is None or f.size == size) for m in single for f in m.files):
        digest = sha256_file(path)
        for spec in single:
            for f in spec.files:
                if f.sha256 == digest:
                    return _Match(spec, "sha256", f.name), ""
    by_name = [(m, f) for m in single for f in m.files if f.basename == path.name]
    try:
        sig = layouts.file_signature(path)
    except layouts.LayoutError as exc:
        if by_name:  # the right name but unreadable: the user's copy of that model is damaged
            return _Match(by_name[0][0], "file name", by_name[0][1].name, str(exc)), ""
        return None, f"not model weights Inspector knows ({exc})"
    hits = [m for m in single if layouts.matches_layout(sig, m.kind, m.layout)]
    if len(hits) > 1:
        return None, f"matches several models ({', '.join(m.id for m in hits)}); import it by hand"
    if not hits:
        if by_name:
            return _Match(by_name[0][0], "file name", by_name[0][1].name), ""
        return None, f"holds {layouts.describe(sig)}, which is not a model in the manifest"
    target = _target_name(hits[0], path)
    if target is None:
        return None, f"looks like {hits[0].id} but its format ({path.suffix}) is not one it accepts"
    return _Match(hits[0], "layout", target), ""


def identify_folder(folder: Path, manifest: Manifest) -> tuple[Optional[_Match], str]:
    try:
        sig = layouts.folder_signature(folder)
    except layouts.LayoutError as exc:
        return None, f"a model folder with a damaged config ({exc})"
    hits = [m for m in manifest.models if m.is_folder and layouts.matches_layout(sig, m.kind, m.layout)]
    if len(hits) == 1:
        return _Match(hits[0], "layout"), ""
    if hits:
        return None, f"matches several models ({', '.join(m.id for m in hits)})"
    return None, f"holds {layouts.describe(sig)}, which is not a model in the manifest"


def _copy(src: Path, dst: Path, progress: Optional[ProgressFn], cancel: Optional[CancelFn],
          done: list[int], total: int) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while chunk := fi.read(8 << 20):
            fo.write(chunk)
            done[0] += len(chunk)
            report(progress, done[0], total, f"copying {src.name}")
            check_cancel(cancel)
    st = src.stat()  # keep the original time: the file is as old as its content
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def place_folder(staging: Path, target: Path) -> None:
    """Rename a verified staging folder to `target`, replacing what was there (same filesystem,
    so each rename is atomic; a crash leaves either the old or the new model, plus a leftover
    `.old-*` folder at worst)."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".old-{target.name}-", dir=target.parent))
        os.replace(target, old / "model")
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _install(source: Path, match: _Match, root: Path, cache: VerifyCache,
             progress: Optional[ProgressFn], cancel: Optional[CancelFn]) -> ImportResult:
    spec = match.spec
    if match.problem:  # nothing to copy: say why, whatever is installed already
        fspec = next((f for f in spec.files if f.name == match.target), None)
        why = quick_file_problem(source, fspec) or match.problem
        return ImportResult(source, spec.id, CORRUPT, None,
                            f"{source.name} looks like {spec.id} ({match.how}) but is corrupt: "
                            f"{why}; nothing was installed")
    existing = check_model(spec, root, cache=cache)
    if existing.status == VERIFIED and existing.path is not None:
        return ImportResult(source, spec.id, ALREADY, existing.path,
                            f"{spec.id} is already installed and verified at {existing.path}; "
                            "delete that folder first to replace it")
    pairs: list[tuple[Path, FileSpec]]
    if spec.is_folder:
        pairs = [(source / f.name, f) for f in spec.files if (source / f.name).is_file()]
    else:
        assert match.target is not None
        pairs = [(source, next(f for f in spec.files if f.name == match.target))]
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{spec.id}-", dir=root))
    try:
        total, done = sum(p.stat().st_size for p, _ in pairs), [0]
        for src, f in pairs:
            _copy(src, staging / f.name, progress, cancel, done, total)
        scratch = VerifyCache(None)
        st = check_folder(spec, staging, True, scratch, progress, cancel)
        if st.status != VERIFIED:
            return ImportResult(source, spec.id, CORRUPT, None,
                                f"{source.name} looks like {spec.id} ({match.how}) but is corrupt: "
                                f"{st.detail}; nothing was installed")
        target = root / spec.id
        place_folder(staging, target)
        cache.adopt(scratch, staging, target)
        cache.save()
        where = target if spec.is_folder else target / pairs[0][1].name
        return ImportResult(source, spec.id, INSTALLED, where,
                            f"{spec.id} installed at {where} (identified by {match.how}, {st.detail})")
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def import_path(path: os.PathLike | str, *, manifest: Optional[Manifest] = None,
                root: Optional[Path] = None, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelFn] = None) -> list[ImportResult]:
    """Import every model found at `path` (file, folder, .zip, .tar, .tar.gz) into the models folder.

    Returns one ImportResult per model file/folder found (status installed, already-installed,
    corrupt or unknown). Raises WeightsError when the path does not exist or an archive is
    unsafe, unreadable, a zip bomb or too large for the disk; nothing is copied then.
    """
    manifest, root = resolve(manifest, root)
    src = Path(path).expanduser()
    if not src.exists():
        raise WeightsError(f"{src}: not found; give a weights file, a folder or a .zip/.tar.gz")
    cache = VerifyCache(root)
    if is_archive(src):
        plan = plan_archive(src)  # sizes, ratios and entries checked before anything is written
        check_free_space(plan, root)
        root.mkdir(parents=True, exist_ok=True)
        unpacked = Path(tempfile.mkdtemp(prefix=".import-", dir=root))
        try:
            extract_archive(src, unpacked, cancel, plan)
            return _import_tree(unpacked, manifest, root, cache, progress, cancel, label=src)
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)
    if src.is_file():
        match, why = identify_file(src, manifest)
        if match is None:
            return [ImportResult(src, None, UNKNOWN, None, f"{src.name}: {why}; nothing was copied")]
        return [_install(src, match, root, cache, progress, cancel)]
    return _import_tree(src, manifest, root, cache, progress, cancel, label=src)


def _import_tree(folder: Path, manifest: Manifest, root: Path, cache: VerifyCache,
                 progress: Optional[ProgressFn], cancel: Optional[CancelFn],
                 label: Path) -> list[ImportResult]:
    results: list[ImportResult] = []
    for cand, is_folder in find_candidates(folder):
        check_cancel(cancel)
        match, why = identify_folder(cand, manifest) if is_folder else identify_file(cand, manifest)
        shown = label / cand.relative_to(folder)  # inside an archive: archive path + entry
        if match is None:
            results.append(ImportResult(shown, None, UNKNOWN, None,
                                        f"{shown}: {why}; nothing was copied"))
        else:
            result = _install(cand, match, root, cache, progress, cancel)
            result.source = shown
            results.append(result)
    if not results:
        results.append(ImportResult(label, None, UNKNOWN, None,
                                    f"{label.name}: no model weights found (expected .pth, .bin or "
                                    ".safetensors files, or model folders); nothing was copied"))
    return results
