"""Safe extraction of .zip / .tar / .tar.gz archives a user carried in.

Every entry is checked before anything is written: absolute paths, `..` components, drive
letters, links and device files are refused, so an archive can only write inside the target.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Optional

from ..core.progress import CancelFn, check_cancel
from .manifest import WeightsError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(ARCHIVE_SUFFIXES)


def _safe_relpath(archive: Path, name: str) -> PurePosixPath:
    rel = PurePosixPath(name.replace("\\", "/"))
    bad = (rel.is_absolute() or ".." in rel.parts or (rel.parts and ":" in rel.parts[0])
           or name.startswith(("/", "\\")))
    if bad:
        raise WeightsError(f"{archive.name}: refused, entry '{name}' points outside the archive "
                           "(unsafe path); nothing was imported")
    return rel


def _plan_zip(archive: Path) -> list[tuple[PurePosixPath, zipfile.ZipInfo]]:
    plan = []
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            rel = _safe_relpath(archive, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise WeightsError(f"{archive.name}: refused, entry '{info.filename}' is a link; "
                                   "nothing was imported")
            if not info.is_dir():
                plan.append((rel, info))
    return plan


def extract_archive(archive: Path, dest: Path, cancel: Optional[CancelFn] = None) -> Path:
    """Extract `archive` into the existing empty folder `dest`; returns dest.

    Raises WeightsError (nothing written) for unsafe or unreadable archives.
    """
    archive = Path(archive)
    try:
        if archive.name.lower().endswith(".zip"):
            plan = _plan_zip(archive)
            with zipfile.ZipFile(archive) as z:
                for rel, info in plan:
                    check_cancel(cancel)
                    out = dest.joinpath(*rel.parts)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(info) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, 8 << 20)
            return dest
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for m in members:  # check all entries before writing any
                _safe_relpath(archive, m.name)
                if not (m.isfile() or m.isdir()):
                    raise WeightsError(f"{archive.name}: refused, entry '{m.name}' is a link or "
                                       "special file; nothing was imported")
            for m in members:
                check_cancel(cancel)
                if not m.isfile():
                    continue
                out = dest.joinpath(*_safe_relpath(archive, m.name).parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                assert src is not None
                with src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 8 << 20)
            return dest
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise WeightsError(f"{archive.name}: cannot read the archive ({exc}); is it complete?") from None
