"""Safe extraction of .zip / .tar / .tar.gz archives a user carried in.

Every entry is checked before anything is written (`plan_archive`): absolute paths, `..`
components, drive letters, links, device and sparse files are refused, so an archive can only
write inside the target; and what it would unpack is bounded: at most MAX_MEMBERS entries,
MAX_TOTAL_BYTES in all (sizes from the zip directory or the tar headers), no entry or
compressed tar more than MAX_RATIO times smaller than what it unpacks to (a zip bomb), and
enough free space for it. While extracting, an entry that yields more bytes than its header
declared stops the import.
"""

from __future__ import annotations

import errno
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Optional

from ..core.progress import CancelFn, check_cancel
from ..core.units import format_bytes
from .manifest import WeightsError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
MAX_MEMBERS = 10_000  # a diffusers pipeline is ~20 files; a Hugging Face snapshot a few hundred
MAX_TOTAL_BYTES = 64 << 30  # the largest model set Inspector knows is ~15 GB
MAX_RATIO = 200  # weights barely compress (~1.1:1); zeros compress ~1000:1
RATIO_MIN_BYTES = 8 << 20  # small entries (configs, vocabularies) may compress well
FREE_MARGIN_BYTES = 1 << 30  # left free on the disk after importing
_CHUNK = 8 << 20


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class ArchivePlan:
    """What an archive would unpack: (relative path, declared bytes) of every file entry."""

    archive: Path
    files: list[tuple[PurePosixPath, int]]

    @property
    def total(self) -> int:
        return sum(size for _, size in self.files)


def _refuse(archive: Path, why: str, fix: str = "check where the archive came from") -> WeightsError:
    return WeightsError(f"{archive.name}: refused, {why}; nothing was imported — {fix}")

_SPLIT = "import the model files or folders one by one"


def _safe_relpath(archive: Path, name: str) -> PurePosixPath:
    rel = PurePosixPath(name.replace("\\", "/"))
    bad = (rel.is_absolute() or ".." in rel.parts or (rel.parts and ":" in rel.parts[0])
           or name.startswith(("/", "\\")))
    if bad:
        raise _refuse(archive, f"entry '{name}' points outside the archive (unsafe path)")
    return rel


class _Budget:
    """Running totals of a plan, refusing as soon as a bound is passed (before reading on)."""

    def __init__(self, archive: Path, max_total: int) -> None:
        self.archive, self.max_total = archive, max_total
        self.count, self.total = 0, 0

    def add(self, name: str, size: int, stored: Optional[int]) -> None:
        self.count += 1
        self.total += size
        if self.count > MAX_MEMBERS:
            raise _refuse(self.archive, f"it has more than {MAX_MEMBERS} entries", _SPLIT)
        if self.total > self.max_total:
            raise _refuse(self.archive, f"it would unpack to more than {format_bytes(self.max_total)} "
                                        f"(at least {format_bytes(self.total)})", _SPLIT)
        if stored is not None and size > RATIO_MIN_BYTES and size > MAX_RATIO * max(stored, 1):
            raise _refuse(self.archive, f"entry '{name}' unpacks {format_bytes(stored)} into "
                                        f"{format_bytes(size)} (compression ratio over "
                                        f"{MAX_RATIO}:1, a zip bomb, not model weights)", _SPLIT)


def plan_archive(archive: Path, max_total: Optional[int] = None) -> ArchivePlan:
    """Check every entry of `archive` and the sizes it declares; nothing is written.

    max_total: most bytes it may unpack to (default MAX_TOTAL_BYTES).
    Raises WeightsError for unsafe, oversized or unreadable archives.
    """
    archive = Path(archive)
    budget = _Budget(archive, MAX_TOTAL_BYTES if max_total is None else max_total)
    files: list[tuple[PurePosixPath, int]] = []
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    rel = _safe_relpath(archive, info.filename)
                    if stat.S_ISLNK(info.external_attr >> 16):
                        raise _refuse(archive, f"entry '{info.filename}' is a link")
                    if info.is_dir():
                        budget.add(info.filename, 0, None)  # folders count as entries too
                    else:
                        budget.add(info.filename, info.file_size, info.compress_size)
                        files.append((rel, info.file_size))
        else:
            archive_size = archive.stat().st_size
            compressed = not archive.name.lower().endswith(".tar")
            with tarfile.open(archive) as tar:
                for m in tar:  # one header at a time: a bomb is refused before it is inflated
                    rel = _safe_relpath(archive, m.name)
                    if not (m.isfile() or m.isdir()) or m.issparse():
                        raise _refuse(archive, f"entry '{m.name}' is a link or special file")
                    budget.add(m.name, m.size if m.isfile() else 0, None)
                    if m.isfile():
                        files.append((rel, m.size))
                    if compressed and budget.total > RATIO_MIN_BYTES \
                            and budget.total > MAX_RATIO * archive_size:
                        raise _refuse(archive, f"it unpacks {format_bytes(archive_size)} into at "
                                               f"least {format_bytes(budget.total)} (compression "
                                               f"ratio over {MAX_RATIO}:1, a zip bomb, not model "
                                               "weights)", _SPLIT)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise WeightsError(f"{archive.name}: cannot read the archive ({exc}); is it complete?") from None
    return ArchivePlan(archive, files)


def check_free_space(plan: ArchivePlan, folder: Path, copies: int = 2) -> None:
    """Refuse when `folder`'s disk cannot hold `copies` x the unpacked size plus a margin
    (import unpacks once and copies each model once more while verifying it)."""
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    need = copies * plan.total + FREE_MARGIN_BYTES
    if need > free:
        raise WeightsError(f"{plan.archive.name}: not enough free space to import it (it unpacks "
                           f"to {format_bytes(plan.total)}, importing needs {format_bytes(need)}, "
                           f"{probe} has {format_bytes(free)} free) — free some space or import "
                           "the files one by one; nothing was imported")


def _copy_bounded(archive: Path, name: str, src: BinaryIO, out: Path, declared: int,
                  cancel: Optional[CancelFn]) -> None:
    written = 0
    with open(out, "wb") as dst:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > declared:  # a lying header: stop before the disk fills
                raise _refuse(archive, f"entry '{name}' holds more data than the {declared} "
                                       "bytes its header declares")
            dst.write(chunk)
            check_cancel(cancel)


def extract_archive(archive: Path, dest: Path, cancel: Optional[CancelFn] = None,
                    plan: Optional[ArchivePlan] = None) -> Path:
    """Extract `archive` into the existing empty folder `dest`; returns dest.

    Raises WeightsError for unsafe, oversized or unreadable archives: nothing is written when
    the plan fails; what was written into `dest` is left for the caller to remove otherwise.
    """
    archive = Path(archive)
    if plan is None:
        plan = plan_archive(archive)
    declared = dict(plan.files)
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    if info.is_dir():
                        continue
                    check_cancel(cancel)
                    rel = _safe_relpath(archive, info.filename)
                    out = dest.joinpath(*rel.parts)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(info) as src:
                        _copy_bounded(archive, info.filename, src, out, declared.get(rel, 0), cancel)
            return dest
        with tarfile.open(archive) as tar:
            for m in tar:
                check_cancel(cancel)
                if not m.isfile():
                    continue
                rel = _safe_relpath(archive, m.name)
                out = dest.joinpath(*rel.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                if src is None:
                    raise _refuse(archive, f"entry '{m.name}' cannot be read as a file")
                with src:
                    _copy_bounded(archive, m.name, src, out, declared.get(rel, 0), cancel)
            return dest
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise WeightsError(f"{archive.name}: the disk filled up while unpacking it — free some "
                               "space and import it again; nothing was imported") from None
        raise WeightsError(f"{archive.name}: cannot read the archive ({exc}); is it complete?") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise WeightsError(f"{archive.name}: cannot read the archive ({exc}); is it complete?") from None
