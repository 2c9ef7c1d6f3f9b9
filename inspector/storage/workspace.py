"""A workspace: a folder with inspector.db and per-product folders of files.

Layout:
    <root>/inspector.db
    <root>/products/<product id>/references/<sha256[:20]><suffix>
    <root>/products/<product id>/inspections/<yyyy-mm-dd>/<sha256[:20]><suffix>
    <root>/products/<product id>/state/v<N>/          fitted engine state + calibration
Files are written first (temp + rename, content hash in the name); rows are committed after.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy.orm import Session

from ..core.errors import WorkspaceError
from ..core.image_io import atomic_write_bytes, content_hash
from . import database

DB_NAME = "inspector.db"


def default_workspace_dir() -> Path:
    """INSPECTOR_WORKSPACE, else a per-user data folder."""
    env = os.environ.get("INSPECTOR_WORKSPACE")
    if env:
        return Path(env).expanduser()
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "Inspector" / "workspace"
    base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "inspector" / "workspace"


class Workspace:
    """An opened workspace. Create with `init_workspace` or `open_workspace`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.db_path = self.root / DB_NAME
        self.engine = database.make_engine(self.db_path)
        self._sessions = database.make_session_factory(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with database.session_scope(self._sessions) as s:
            yield s

    # --- files -----------------------------------------------------------------------------
    def product_dir(self, product_id: int) -> Path:
        return self.root / "products" / str(product_id)

    def abs_path(self, rel: str) -> Path:
        return self.root / rel

    def rel_path(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def store_bytes(self, folder: Path, data: bytes, suffix: str) -> tuple[str, str]:
        """Write `data` atomically into `folder` named by its hash; returns (rel path, sha256)."""
        digest = content_hash(data)
        target = folder / f"{digest[:20]}{suffix.lower()}"
        if not target.exists():
            atomic_write_bytes(target, data)
        return self.rel_path(target), digest

    def remove_file(self, rel: str | None) -> None:
        if rel:
            try:
                (self.root / rel).unlink()
            except FileNotFoundError:
                pass

    def remove_product_files(self, product_id: int) -> None:
        shutil.rmtree(self.product_dir(product_id), ignore_errors=True)

    def close(self) -> None:
        self.engine.dispose()


def _check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise WorkspaceError(f"workspace folder {root} is not writable ({exc.strerror or exc})") from None


def init_workspace(root: Path) -> Workspace:
    """Create (or upgrade) a workspace at `root`."""
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} exists and is not a folder")
    _check_writable(root)
    ws = Workspace(root)
    try:
        database.upgrade(ws.engine)
    except Exception:
        ws.close()
        raise
    (ws.root / "products").mkdir(exist_ok=True)
    return ws


def open_workspace(root: Path) -> Workspace:
    """Open an existing workspace, upgrading an older schema; refuses a newer one."""
    root = Path(root).expanduser()
    if not (root / DB_NAME).is_file():
        raise WorkspaceError(f"no workspace at {root} (missing {DB_NAME}); "
                             f"create one with `inspector workspace init {root}`")
    if not os.access(root, os.W_OK) or not os.access(root / DB_NAME, os.W_OK):
        raise WorkspaceError(f"workspace {root} is not writable; check its permissions")
    ws = Workspace(root)
    try:
        database.upgrade(ws.engine)
    except WorkspaceError:
        ws.close()
        raise
    except Exception as exc:
        ws.close()
        raise WorkspaceError(f"cannot open workspace database {root / DB_NAME}: {exc}") from None
    return ws
