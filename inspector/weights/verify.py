"""Model status: missing / present / verified / corrupt, with the path and size on disk.

Quick check (every `status` call, no torch): every required file is there, sizes match when the
manifest knows them, weight files are intact containers (a torch zip has its central directory,
a safetensors header describes exactly the file's length), JSON parses, and a folder's configs
identify the right model. A file failing it is *corrupt* and is never loaded.

Full check (`verify`): sha256 when the manifest knows it; otherwise the structure: every entry
of a torch zip passes its CRC, the checkpoint loads with weights_only=True and its tensor
layout is the expected model (e.g. SAM vit_b, not vit_h). Results are cached in
`<models>/.verify-cache.json`, keyed by path + size + mtime, so re-verifying is instant.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..core.progress import CancelFn, ProgressFn, check_cancel, report
from . import layouts
from .locations import find_model_folder
from .manifest import FileSpec, ModelSpec
from .safetensors_header import SafetensorsError, read_header

MISSING, PRESENT, VERIFIED, CORRUPT = "missing", "present", "verified", "corrupt"
CACHE_NAME = ".verify-cache.json"
_CHUNK = 8 << 20
RACY_NS = 3_000_000_000  # results for files modified this close to their check are not reused


@dataclass
class ModelStatus:
    """Where a model stands. `path` is the weights file (single-file kinds) or the folder."""

    model_id: str
    status: str
    path: Optional[Path] = None
    size: int = 0  # bytes of the model's files found on disk
    detail: str = ""
    files: list[Path] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.status in (PRESENT, VERIFIED)


class VerifyCache:
    """Small JSON of full-check results; unwritable folders simply mean no caching."""

    def __init__(self, root: Optional[Path]) -> None:
        """Cache of `<root>/.verify-cache.json`; root None keeps results in memory only."""
        self.path = Path(root) / CACHE_NAME if root is not None else None
        self.data: dict = {}
        if self.path is not None:
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.data = {}

    @staticmethod
    def _stamp(p: Path) -> list[int]:
        st = p.stat()
        return [st.st_size, st.st_mtime_ns, st.st_ino]

    def get(self, p: Path) -> Optional[dict]:
        """The cached result, unless the file changed since (or may have: see RACY_NS)."""
        entry = self.data.get(str(p.resolve()))
        if not entry or entry.get("stamp") != self._stamp(p):
            return None
        # File clocks are coarse (ms on Linux, 2 s on FAT): a file written just before or
        # during its check could change again without its mtime moving, so such results
        # are not trusted ("racy" entries, as in git's index). Failures always stand.
        if entry["ok"] and entry["stamp"][1] > entry.get("checked_ns", 0) - RACY_NS:
            return None
        return entry

    def put(self, p: Path, ok: bool, detail: str, sha256: Optional[str] = None,
            checked_ns: Optional[int] = None) -> None:
        """Record a result; `checked_ns` is time.time_ns() taken before reading the file."""
        self.data[str(p.resolve())] = {"stamp": self._stamp(p), "ok": ok, "detail": detail,
                                       "sha256": sha256, "checked_ns": checked_ns or time.time_ns()}

    def adopt(self, other: "VerifyCache", old_folder: Path, new_folder: Path) -> None:
        """Take over `other`'s results for files moved from old_folder to new_folder (rename
        keeps size and mtime, so the results still hold)."""
        old_prefix, new_prefix = str(old_folder.resolve()), str(new_folder.resolve())
        for key, entry in other.data.items():
            if key.startswith(old_prefix + os.sep):
                self.data[new_prefix + key[len(old_prefix):]] = entry

    def save(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".verify-cache-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.data, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only models folder just means results are not remembered


def sha256_file(path: Path, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelFn] = None) -> str:
    h = hashlib.sha256()
    total, done = path.stat().st_size, 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            done += len(chunk)
            report(progress, done, total, f"checksum {path.name}")
            check_cancel(cancel)
    return h.hexdigest()


def _safetensors_problem(path: Path) -> Optional[str]:
    try:
        read_header(path)
    except SafetensorsError as exc:
        return f"not a valid safetensors file ({exc.reason})"
    return None


def quick_file_problem(path: Path, fspec: Optional[FileSpec] = None) -> Optional[str]:
    """Cheap checks of one file; a short reason when it is broken, else None."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if fspec is not None and fspec.size is not None and size != fspec.size:
        return f"size {size} bytes, expected {fspec.size}"
    if size == 0:
        return "empty file"
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return _safetensors_problem(path)
    if suffix in layouts.TORCH_SUFFIXES:
        if zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as z:
                    if not any(n.endswith("data.pkl") for n in z.namelist()):
                        return "a zip file but not a torch checkpoint (no data.pkl)"
            except (zipfile.BadZipFile, OSError) as exc:
                return f"damaged checkpoint ({exc})"
            return None
        with open(path, "rb") as f:
            if f.read(1) != b"\x80":  # legacy torch files are plain pickles
                return "not a torch checkpoint (truncated or a different kind of file)"
        return None
    if suffix == ".json":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return f"not valid JSON ({exc})"
    return None


def full_file_problem(path: Path, fspec: Optional[FileSpec], spec: ModelSpec,
                      progress: Optional[ProgressFn] = None,
                      cancel: Optional[CancelFn] = None) -> tuple[Optional[str], str, Optional[str]]:
    """Thorough check: returns (problem or None, how it was checked, sha256 if computed)."""
    problem = quick_file_problem(path, fspec)
    if problem:
        return problem, "", None
    if fspec is not None and fspec.sha256:
        digest = sha256_file(path, progress, cancel)
        if digest != fspec.sha256:
            return f"sha256 {digest[:12]}... does not match the manifest ({fspec.sha256[:12]}...)", "", digest
        return None, "sha256", digest
    suffix = path.suffix.lower()
    if suffix in layouts.TORCH_SUFFIXES and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():  # read every entry: CRC mismatch means damage
                check_cancel(cancel)
                try:
                    with z.open(info) as member:
                        while member.read(_CHUNK):
                            pass
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    return f"damaged entry {info.filename} ({exc})", "", None
    if suffix in layouts.WEIGHT_SUFFIXES:
        try:
            shapes = layouts.read_tensor_shapes(path)
        except layouts.LayoutError as exc:
            return str(exc), "", None
        if not spec.is_folder:
            sig = layouts.state_dict_signature(shapes)
            if not layouts.matches_layout(sig, spec.kind, spec.layout):
                return f"holds {layouts.describe(sig)}, not {spec.id}", "", None
    return None, "structure", None


def _present_files(spec: ModelSpec, folder: Path) -> tuple[list[tuple[Path, FileSpec]], list[str]]:
    found, missing = [], []
    for group in spec.required_groups():
        hit = next((f for f in group if (folder / f.name).is_file()), None)
        if hit is None:
            missing.append(" or ".join(f.name for f in group))
        else:
            found.append((folder / hit.name, hit))
    return found, missing


def _still_valid(entry: Optional[dict], fspec: FileSpec) -> Optional[dict]:
    """A cached result, unless the manifest's checksum for the file changed since."""
    if entry is None:
        return None
    digest = entry.get("sha256")
    if fspec.sha256:
        if digest is None:
            return None  # checked structurally before the manifest had a checksum
        if digest != fspec.sha256:
            return {**entry, "ok": False, "detail": f"sha256 {digest[:12]}... does not match "
                                                    f"the manifest ({fspec.sha256[:12]}...)"}
        return entry
    return None if digest is not None and not entry["ok"] else entry  # checksum no longer known


def check_model(spec: ModelSpec, root: Path, full: bool = False,
                cache: Optional[VerifyCache] = None, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelFn] = None) -> ModelStatus:
    """Status of one model under the models folder `root` (or in the Hugging Face cache)."""
    try:
        folder = find_model_folder(spec, root)
    except OSError as exc:  # e.g. a folder without read permission: this model only
        return ModelStatus(spec.id, CORRUPT, root / spec.id, 0,
                           f"cannot be read ({exc.strerror or exc})")
    if folder is None:
        return ModelStatus(spec.id, MISSING, detail=f"not in {root / spec.id}")
    return check_folder(spec, folder, full, cache if cache is not None else VerifyCache(root),
                        progress, cancel)


def check_folder(spec: ModelSpec, folder: Path, full: bool, cache: VerifyCache,
                 progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelFn] = None) -> ModelStatus:
    """Status of `spec`'s files in `folder` (quick checks, or full ones when `full`).

    Never raises for what is on disk: an unreadable file makes this one model corrupt, so
    listing or verifying the others goes on.
    """
    try:
        return _check_folder(spec, folder, full, cache, progress, cancel)
    except OSError as exc:
        where = Path(exc.filename).name if exc.filename else folder.name
        return ModelStatus(spec.id, CORRUPT, folder, 0,
                           f"{where}: cannot be read ({exc.strerror or exc})")


def _check_folder(spec: ModelSpec, folder: Path, full: bool, cache: VerifyCache,
                  progress: Optional[ProgressFn], cancel: Optional[CancelFn]) -> ModelStatus:
    found, missing = _present_files(spec, folder)
    size = sum(p.stat().st_size for p, _ in found)
    files = [p for p, _ in found]
    main = folder if spec.is_folder else (files[0] if files else folder)
    if missing:
        state = CORRUPT if found or spec.is_folder else MISSING
        return ModelStatus(spec.id, state, main, size, "incomplete: missing " + ", ".join(missing), files)
    if spec.is_folder:
        try:
            sig = layouts.folder_signature(folder)
        except layouts.LayoutError as exc:
            return ModelStatus(spec.id, CORRUPT, main, size, str(exc), files)
        if not layouts.matches_layout(sig, spec.kind, spec.layout):
            return ModelStatus(spec.id, CORRUPT, main, size,
                               f"folder holds {layouts.describe(sig)}, not {spec.id}", files)
    all_verified, how = True, set()
    for path, fspec in found:
        cached = _still_valid(cache.get(path), fspec)
        if cached is not None:
            if not cached["ok"]:
                return ModelStatus(spec.id, CORRUPT, main, size, f"{fspec.name}: {cached['detail']}", files)
            how.add(cached["detail"])
            continue
        if not full:
            problem = quick_file_problem(path, fspec)
            if problem:
                return ModelStatus(spec.id, CORRUPT, main, size, f"{fspec.name}: {problem}", files)
            all_verified = False
            continue
        started = time.time_ns()
        problem, method, digest = full_file_problem(path, fspec, spec, progress, cancel)
        cache.put(path, problem is None, problem or method, digest, started)
        cache.save()
        if problem:
            return ModelStatus(spec.id, CORRUPT, main, size, f"{fspec.name}: {problem}", files)
        how.add(method)
    if all_verified:
        return ModelStatus(spec.id, VERIFIED, main, size, "checked: " + ", ".join(sorted(how)), files)
    return ModelStatus(spec.id, PRESENT, main, size, "not verified yet (run `inspector models verify`)", files)


def model_status(model_id: str, *, manifest=None, root: Optional[Path] = None,
                 full: bool = False) -> ModelStatus:
    """Status of a manifest model without raising (engines' availability checks use it).

    manifest/root default to the manifest and models folder in effect (see locations).
    """
    from .locations import resolve

    manifest, root = resolve(manifest, root)
    return check_model(manifest.get(model_id), root, full=full)
