"""What a crash can leave in a workspace, and how it is kept harmless.

- Product ids never collide with folders on disk (hooks on the Product model, so every service
  gets them), and a delete marks the folder before the rows go.
- `clean_leftovers` (run when a workspace opens) removes temp files of ended processes, state
  versions that were written but never committed, and the folders of cut-short deletes.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from sqlalchemy import event, select

from ..core.errors import WorkspaceError
from ..core.faults import fault_point
from ..core.image_io import TEMP_PREFIX, temp_owner_alive
from .models import Product

if TYPE_CHECKING:
    from .workspace import Workspace

DELETING_MARK = ".deleting"  # written into a product's folder before its rows are deleted


def product_folders(root: Path) -> list[Path]:
    """The products/<id>/ folders on disk (whether or not a row names them)."""
    folder = root / "products"
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit())
    except OSError:
        return []


def _root_of(connection) -> Optional[Path]:  # noqa: ANN001
    db = connection.info.get("db_path")
    return Path(db).parent if db else None


@event.listens_for(Product, "before_insert")
def _skip_ids_with_folders(_mapper, connection, _target) -> None:  # noqa: ANN001
    """A new product's id is above every products/<id>/ folder on disk (AUTOINCREMENT alone
    would reuse one whose database was restored from an older copy)."""
    fault_point("product_create.before_insert")
    root = _root_of(connection)
    folder = root / "products" if root else None
    if folder is None or not folder.is_dir():
        return
    highest = max((int(p.name) for p in folder.iterdir() if p.name.isdigit()), default=0)
    if highest:
        connection.exec_driver_sql(
            "INSERT INTO sqlite_sequence(name, seq) SELECT 'products', 0 "
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'products')")
        connection.exec_driver_sql("UPDATE sqlite_sequence SET seq = ? WHERE name = 'products' AND seq < ?",
                                   (highest, highest))


@event.listens_for(Product, "before_delete")
def _mark_deleting(_mapper, connection, target) -> None:  # noqa: ANN001
    """Mark the folder before the rows go, so a delete cut short is finished at the next open
    (a folder without a row and without this mark is never removed: it may be a restore)."""
    root = _root_of(connection)
    folder = root / "products" / str(target.id) if root else None
    if folder is not None and folder.is_dir():
        try:
            (folder / DELETING_MARK).write_bytes(b"")
        except OSError:
            pass  # the folder stays behind after a crash; ids are never reused anyway


def clean_leftovers(ws: Workspace) -> list[str]:
    """Remove what killed writes left behind and return it (paths relative to the workspace):
    temp files and folders of processes that have ended, state versions above the one their
    product's row names (written but never committed, drafts named by state/DRAFT kept; only while no fit of it runs), and the
    folders of products whose delete was cut short. Never fails: a leftover is harmless."""
    removed: list[str] = _clean_temps(ws, ws.temp_dir)
    try:
        with ws.session() as s:
            rows = {p.id: p.state_version for p in s.scalars(select(Product))}
    except Exception:  # noqa: BLE001 - cleanup must never stop a workspace from opening
        return removed
    for folder in product_folders(ws.root):
        pid = int(folder.name)
        if pid not in rows:
            if (folder / DELETING_MARK).exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.relative_to(ws.root).as_posix())
            continue
        try:
            (folder / DELETING_MARK).unlink()  # a delete that rolled back: the product stays
        except OSError:
            pass
        for sub in ("state", "references"):  # where an older Inspector put its temp files
            removed += _clean_temps(ws, folder / sub)
        removed += _clean_uncommitted_states(ws, pid, rows[pid])
    return removed


def _clean_temps(ws: Workspace, folder: Path) -> list[str]:
    """Temp files and folders directly in `folder` whose writing process has ended."""
    removed = []
    try:
        entries = [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]
    except OSError:
        return removed
    for path in entries:
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            continue
        if temp_owner_alive(path.name, age):
            continue
        try:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        except OSError:
            continue
        removed.append(path.relative_to(ws.root).as_posix())
    return removed


def _clean_uncommitted_states(ws: Workspace, product_id: int, committed: int) -> list[str]:
    state = ws.product_dir(product_id) / "state"
    if not state.is_dir():
        return []
    try:  # a draft is committed by state/DRAFT naming it (services/engine_state.py), not by the row
        draft = int((state / "DRAFT").read_text().strip())
    except (OSError, ValueError):
        draft = None
    above = [p for p in state.iterdir() if p.name[:1] == "v" and p.name[1:].isdigit()
             and int(p.name[1:]) > committed and int(p.name[1:]) != draft]
    if not above:
        return []
    from filelock import Timeout

    try:
        lock = ws.product_lock(product_id)
        lock.acquire(blocking=False)
    except (Timeout, WorkspaceError, OSError):
        return []  # a fit is running (it is about to commit one of them), or no lock can be made
    try:
        removed = []
        for p in above:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.relative_to(ws.root).as_posix())
        return removed
    finally:
        lock.release()


def describe_cleanup(removed: list[str]) -> str:
    """One line for the user about what opening removed ('' when nothing)."""
    if not removed:
        return ""
    shown = ", ".join(removed[:3]) + (f" and {len(removed) - 3} more" if len(removed) > 3 else "")
    return f"note: removed {len(removed)} leftover(s) of an interrupted write: {shown}"
