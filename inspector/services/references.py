"""Add and remove a product's good reference images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..core.errors import ImageError, NotFoundError
from ..core.faults import fault_point
from ..core.image_io import content_hash, is_image_path, load_image
from ..core.progress import CancelFn, ProgressFn, check_cancel, report
from ..storage.models import ReferenceImage
from ..storage.workspace import Workspace
from . import audit
from .audit import Actor
from .products import get_product_row
from .records import ReferenceInfo

MAX_FILE_BYTES = 512 * 1024 * 1024


def _folder_images(folder: Path) -> list[Path]:
    """A folder's images; when it has none directly, those of its sub-folders (a test set
    sorted into good/, scratch/, ... folders). Hidden files and folders are skipped."""
    direct = sorted(q for q in folder.iterdir() if q.is_file() and is_image_path(q))
    return direct or sorted(q for q in folder.rglob("*") if q.is_file() and is_image_path(q)
                            and not any(part.startswith(".") for part in q.relative_to(folder).parts))


def expand_with_names(paths: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """(file, display name) pairs: files as given, folders expanded (see `_folder_images`);
    the name is the path below the folder the user gave (e.g. "scratch/001.png").

    Raises ImageError for a missing path or a folder without images.
    """
    out: list[tuple[Path, str]] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            raise ImageError(f"{p}: no such file or folder")
        if p.is_dir():
            found = _folder_images(p)
            if not found:
                raise ImageError(f"{p}: folder has no PNG/JPEG/BMP/TIFF images")
            out.extend((q, q.relative_to(p).as_posix()) for q in found)
        else:
            out.append((p, p.name))
    return out


def expand_image_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their images (see `expand_with_names`)."""
    return [p for p, _ in expand_with_names(paths)]


@dataclass
class _Checked:
    path: Path
    data: bytes
    digest: str
    width: int
    height: int


def _check(path: Path) -> _Checked:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ImageError(f"{path}: file too large ({size / 2**20:.0f} MB, limit {MAX_FILE_BYTES / 2**20:.0f} MB)")
    img = load_image(path)  # raises ImageError with the reason
    data = path.read_bytes()
    return _Checked(path, data, content_hash(data), img.shape[1], img.shape[0])


def _info(r: ReferenceImage) -> ReferenceInfo:
    return ReferenceInfo(id=r.id, product_id=r.product_id, path=r.path, sha256=r.sha256,
                         original_name=r.original_name, width=r.width, height=r.height,
                         added_at=r.added_at)


def add_references(ws: Workspace, product: str, paths: Sequence[str | Path],
                   progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelFn] = None,
                   actor: Optional[Actor] = None) -> tuple[list[ReferenceInfo], list[str]]:
    """Validate every image first (a bad one changes nothing), then store them one by one.

    Each image is written (temp + rename) before its row is committed. Returns (added, skipped
    messages); duplicates of existing references are skipped, not errors.
    """
    files = expand_image_paths(paths)
    with ws.session() as s:
        p = get_product_row(s, product)
        product_id, p_name = p.id, p.name
        known = set(s.scalars(select(ReferenceImage.sha256).where(ReferenceImage.product_id == product_id)))
    checked: list[_Checked] = []
    for i, f in enumerate(files):
        check_cancel(cancel)
        report(progress, i, 2 * len(files), f"checking {f.name}")
        checked.append(_check(f))
    added: list[ReferenceInfo] = []
    skipped: list[str] = []
    folder = ws.product_dir(product_id) / "references"
    for i, c in enumerate(checked):
        check_cancel(cancel)
        report(progress, len(files) + i, 2 * len(files), f"adding {c.path.name}")
        if c.digest in known:
            skipped.append(f"{c.path}: already a reference of '{product}'")
            continue
        kept = f"; the {len(added)} image(s) before it were added" if added else ""
        created: list[str] = []
        rel, _ = ws.store_bytes(folder, c.data, c.path.suffix, created, f"{c.path.name} was not added{kept}")
        fault_point("refs.after_file", ws.abs_path(rel))
        try:
            with ws.write_session(progress) as s:
                row = ReferenceImage(product_id=product_id, path=rel, sha256=c.digest,
                                     original_name=c.path.name, width=c.width, height=c.height)
                s.add(row)
                s.flush()
                audit.record(s, actor, "reference added", None,
                             {"id": row.id, "file": c.path.name, "sha256": c.digest},
                             product_name=p_name, product_id=product_id)
                info = _info(row)
        except IntegrityError as exc:
            ws.discard_unreferenced(created)
            if "unique" not in str(exc.orig).lower():
                raise ws.database_error(exc, f"{c.path.name} was not added{kept}") from None
            skipped.append(f"{c.path}: already a reference of '{product}' (added by another Inspector meanwhile)")
            known.add(c.digest)
            continue
        except DBAPIError as exc:
            ws.discard_unreferenced(created)  # no row was committed for it: no file stays either
            raise ws.database_error(exc, f"{c.path.name} was not added{kept}") from None
        except BaseException:
            ws.discard_unreferenced(created)
            raise
        fault_point("refs.after_commit", ws.abs_path(rel))
        added.append(info)
        known.add(c.digest)
    report(progress, 2 * len(files), 2 * len(files), "done")
    return added, skipped


def list_references(ws: Workspace, product: str) -> list[ReferenceInfo]:
    with ws.session() as s:
        p = get_product_row(s, product)
        rows = s.scalars(select(ReferenceImage).where(ReferenceImage.product_id == p.id)
                         .order_by(ReferenceImage.id))
        return [_info(r) for r in rows]


def remove_reference(ws: Workspace, product: str, reference_id: int, actor: Optional[Actor] = None) -> None:
    with ws.session() as s:
        p = get_product_row(s, product)
        row = s.get(ReferenceImage, reference_id)
        if row is None or row.product_id != p.id:
            raise NotFoundError(f"product '{product}' has no reference #{reference_id}")
        rel = row.path
        audit.record(s, actor, "reference removed",
                     {"id": row.id, "file": row.original_name, "sha256": row.sha256}, None, product=p)
        s.delete(row)
    ws.remove_file(rel)  # after the commit: a crash leaves a stray file, never a dangling row


def load_reference_images(ws: Workspace, product: str) -> list[np.ndarray]:
    """All references of a product as uint8 RGB arrays, in the order they were added."""
    return [load_image(ws.abs_path(r.path)) for r in list_references(ws, product)]
