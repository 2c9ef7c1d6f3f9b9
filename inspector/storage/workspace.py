"""A workspace: a folder with inspector.db and per-product folders of files.

Layout:
    <root>/inspector.db
    <root>/products/<product id>/references/<sha256[:20]><suffix>
    <root>/products/<product id>/inspections/<yyyy-mm-dd>/<sha256[:20]><suffix>
    <root>/products/<product id>/state/v<N>/          fitted engine state + calibration
    <root>/.locks/product-<id>.lock                   held while a fit of that product runs
    <root>/.tmp/                                      temp files and folders being written
Files are written first (temp in .tmp/ + rename, content hash in the name); rows are committed after.
What a crash can leave behind is removed when the workspace is next opened (see recovery.py).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Optional

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ..core.errors import WorkspaceError, user_message
from ..core.faults import fault_point
from ..core.image_io import atomic_write_bytes, content_hash
from ..core.progress import CancelFn, ProgressFn, report
from . import database
from .models import Detector, Inspection, ReferenceImage, Region, SyntheticSample
from .recovery import clean_leftovers, describe_cleanup, product_folders  # noqa: F401 - describe_cleanup for callers

DB_NAME = "inspector.db"
TEMP_DIR = ".tmp"
BUSY_STEP_MS = 250  # one try for the write lock; between tries the wait is reported
FULL_DISK_BYTES = 1 << 20  # below this much free space the database is opened read-only
FILE_COLUMNS = (ReferenceImage.path, Inspection.image_path, Region.mask_path,
                SyntheticSample.image_path, SyntheticSample.mask_path, Detector.weights_path)


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
    """An opened workspace. Create with `init_workspace` or `open_workspace`.

    `cleaned` lists what opening removed (leftovers of killed writes), for a one-line note.
    `read_only_reason` is set when the database had to be opened read-only (a full disk).
    """

    def __init__(self, root: Path, busy_timeout_s: float = database.BUSY_TIMEOUT_S,
                 read_only: bool = False, immutable: bool = False) -> None:
        self.root = Path(root).resolve()
        self.db_path = self.root / DB_NAME
        self.busy_timeout_s = busy_timeout_s
        self.read_only = read_only
        self.read_only_reason = ""
        self.cleaned: list[str] = []
        self.engine = database.make_engine(self.db_path, busy_timeout_s, read_only, immutable)
        self._sessions = database.make_session_factory(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        try:
            with database.session_scope(self._sessions) as s:
                yield s
        except DBAPIError as exc:
            if self.read_only and "readonly" in str(exc.orig).lower():
                reason = self.read_only_reason or "the workspace was opened read-only"
                fix = ("free some space on that drive and try again" if "full" in reason
                       else "open it for writing to change it")
                raise WorkspaceError(f"{reason}, so nothing can be changed — {fix} (nothing was changed)") from None
            raise

    @contextmanager
    def write_session(self, progress: Optional[ProgressFn] = None) -> Iterator[Session]:
        """Like `session`, but the write lock is taken first (BEGIN IMMEDIATE), in short tries:
        while another process writes, `progress` hears "waiting for the workspace database…",
        and after `busy_timeout_s` the busy error is raised as a DBAPIError."""
        if self.read_only:
            with self.session() as s:
                yield s
            return
        from sqlalchemy.exc import OperationalError

        with self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            deadline = time.monotonic() + self.busy_timeout_s
            said = False
            raw.execute(f"PRAGMA busy_timeout={BUSY_STEP_MS}")
            try:
                while True:
                    try:
                        raw.execute("BEGIN IMMEDIATE")
                        break
                    except sqlite3.OperationalError as exc:
                        text = str(exc).lower()
                        if ("locked" not in text and "busy" not in text) or time.monotonic() >= deadline:
                            raise OperationalError("BEGIN IMMEDIATE", (), exc) from None
                        if not said:
                            report(progress, 0, 0, "waiting for the workspace database: another "
                                                   "Inspector is writing to it…")
                            said = True
            finally:
                raw.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            # pysqlite sees the open transaction and adds no BEGIN of its own; commit ends it.
            with Session(bind=conn, expire_on_commit=False) as s:
                try:
                    yield s
                    s.commit()
                except BaseException:
                    s.rollback()
                    if raw.in_transaction:
                        raw.rollback()
                    raise

    def database_error(self, exc: BaseException, nothing: str = "nothing was changed") -> WorkspaceError:
        """A clear message for a database failure during a write (busy, disk full, damaged)."""
        text = str(getattr(exc, "orig", None) or exc).lower()
        if "locked" in text or "busy" in text:
            return WorkspaceError(f"the workspace database stayed busy for {self.busy_timeout_s:g} s: another "
                                  f"Inspector is writing to it — wait for it to finish and try again ({nothing})")
        if "full" in text:
            return WorkspaceError(f"the disk holding the workspace {self.root} is full — free some space on "
                                  f"that drive and try again ({nothing})")
        return WorkspaceError(f"{user_message(exc) or exc} ({nothing})")

    # --- files -----------------------------------------------------------------------------
    @property
    def temp_dir(self) -> Path:
        """Where every write of the workspace puts its temp file before the rename into place."""
        return self.root / TEMP_DIR

    def product_dir(self, product_id: int) -> Path:
        return self.root / "products" / str(product_id)

    def abs_path(self, rel: str) -> Path:
        return self.root / rel

    def rel_path(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def write_error(self, exc: OSError, folder: Path, nothing: str = "nothing was changed") -> WorkspaceError:
        """A clear message naming the workspace folder that could not be written, and the fix."""
        where = folder.relative_to(self.root).as_posix() if folder.is_relative_to(self.root) else str(folder)
        name = errno.errorcode.get(exc.errno or 0, "")
        if name in ("ENOSPC", "EDQUOT"):
            return WorkspaceError(f"cannot write to {where} in workspace {self.root}: the disk is full — "
                                  f"free some space on that drive and try again ({nothing})")
        if name in ("EACCES", "EPERM", "EROFS"):
            return WorkspaceError(f"cannot write to {where} in workspace {self.root}: permission denied — "
                                  f"make {folder} writable for this user (e.g. `chmod -R u+w \"{folder}\"`) "
                                  f"and try again ({nothing})")
        return WorkspaceError(f"cannot write to {where} in workspace {self.root}: "
                              f"{user_message(exc) or exc} ({nothing})")

    def store_bytes(self, folder: Path, data: bytes, suffix: str, created: Optional[list[str]] = None,
                    nothing: str = "nothing was changed") -> tuple[str, str]:
        """Write `data` atomically into `folder` named by its hash; returns (rel path, sha256).

        A file that is already there is kept as it is; a new one is appended to `created`, so a
        caller whose row then cannot be committed can `discard_unreferenced` it.
        """
        digest = content_hash(data)
        target = folder / f"{digest[:20]}{suffix.lower()}"
        if not target.exists():
            try:
                atomic_write_bytes(target, data, self.temp_dir)
            except OSError as exc:
                raise self.write_error(exc, folder, nothing) from None
            if created is not None:
                created.append(self.rel_path(target))
        return self.rel_path(target), digest

    def discard_unreferenced(self, rels: Iterable[str]) -> list[str]:
        """Remove those of `rels` that no row references (files written for a row that could not
        be committed). When the database cannot be read, keeps them: a stray file is harmless,
        a row without its file is not. Returns what was removed."""
        rels = list(dict.fromkeys(r for r in rels if r))
        if not rels:
            return []
        try:
            with self.engine.connect() as conn:
                used = {v for col in FILE_COLUMNS for v in conn.execute(select(col).where(col.in_(rels))).scalars()}
        except Exception:  # noqa: BLE001 - any failure to read means: keep the files
            return []
        removed = [r for r in rels if r not in used]
        for rel in removed:
            self.remove_file(rel)
        return removed

    def remove_file(self, rel: str | None) -> None:
        if rel:
            try:
                (self.root / rel).unlink()
            except FileNotFoundError:
                pass

    def remove_product_files(self, product_id: int) -> None:
        """Remove a deleted product's folder (its rows are already gone)."""
        fault_point("product_delete.after_rows", self.product_dir(product_id))
        shutil.rmtree(self.product_dir(product_id), ignore_errors=True)

    # --- locks -----------------------------------------------------------------------------
    def product_lock(self, product_id: int):  # noqa: ANN201 - a filelock.FileLock
        """The lock held while a product's fitted state is being replaced (one fit at a time)."""
        from filelock import FileLock

        folder = self.root / ".locks"
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise self.write_error(exc, folder) from None
        return FileLock(folder / f"product-{product_id}.lock")

    def close(self) -> None:
        self.engine.dispose()


def acquire_lock(lock, waiting: str, timeout_s: float, progress: Optional[ProgressFn] = None,  # noqa: ANN001
                 cancel: Optional[CancelFn] = None) -> None:
    """Take `lock`; when another process holds it, say `waiting` through `progress` and wait up
    to `timeout_s` seconds (or until `cancel`), then refuse with a clear message."""
    from filelock import Timeout

    from ..core.errors import Cancelled

    try:
        lock.acquire(blocking=False)
        return
    except Timeout:
        pass
    report(progress, 0, 0, waiting)
    try:
        lock.acquire(timeout=timeout_s, poll_interval=0.1, cancel_check=cancel)
    except Timeout:
        if cancel is not None and cancel():
            raise Cancelled("cancelled by the user") from None
        raise WorkspaceError(f"{waiting.rstrip('…. ')}: still busy after {timeout_s:g} s — wait for the "
                             "other Inspector to finish and try again (nothing was changed)") from None


# --- opening -----------------------------------------------------------------------------------
def _damaged(db: Path, detail: str) -> WorkspaceError:
    return WorkspaceError(
        f"the workspace database {db} is damaged ({detail}) — restore inspector.db from a backup, or "
        f"save what is readable with `sqlite3 \"{db}\" .recover | sqlite3 recovered.db` and put "
        "recovered.db in its place (nothing was changed)")


def _check_database_file(root: Path) -> bool:
    """Refuse a database file that cannot be this workspace's; True when it is empty (new)."""
    db = root / DB_NAME
    try:
        with db.open("rb") as f:
            head = f.read(len(database.SQLITE_HEADER))
    except OSError as exc:
        raise WorkspaceError(f"cannot read {db}: {user_message(exc) or exc}") from None
    if not head:
        folders = product_folders(root)
        if folders:
            raise WorkspaceError(
                f"the workspace database {db} is empty, but {root / 'products'} holds {len(folders)} "
                "product folder(s) — restore inspector.db from a backup; to start a new workspace "
                f"here instead, move {root / 'products'} aside and run `inspector workspace init "
                f"\"{root}\"` (nothing was changed)")
        return True
    if head != database.SQLITE_HEADER:
        raise WorkspaceError(
            f"{db} is not an Inspector database (damaged, or another program's file) — restore it "
            "from a backup, or choose another folder for the workspace (nothing was changed)")
    return False


def _disk_full(root: Path) -> bool:
    try:
        return shutil.disk_usage(root).free < FULL_DISK_BYTES
    except OSError:
        return False


def _read_revision(root: Path, immutable: bool = False) -> Optional[str]:
    db = root / DB_NAME
    try:
        return database.read_revision(db, immutable=immutable)
    except sqlite3.DatabaseError as exc:
        text = str(exc).lower()
        if "malformed" in text or "not a database" in text:
            raise _damaged(db, str(exc)) from None
        if "locked" in text or "busy" in text:
            raise WorkspaceError(f"the workspace database {db} stayed locked for "
                                 f"{database.BUSY_TIMEOUT_S:g} s by another program — close it and "
                                 "try again") from None
        raise WorkspaceError(f"cannot open the workspace database {db}: {user_message(exc) or exc}") from None


def _check_quick(ws: Workspace) -> None:
    try:
        verdict = database.quick_check(ws.engine)
    except DBAPIError as exc:
        ws.close()
        raise _damaged(ws.db_path, str(exc.orig)) from None
    if verdict != "ok":
        ws.close()
        raise _damaged(ws.db_path, verdict)


def _open_read_only(root: Path, reason: str, busy_timeout_s: float) -> Workspace:
    """Open without writing anything. On a full disk a WAL reader cannot even create its
    shared-memory file, so when nothing is pending in the WAL the file is read as immutable."""
    wal = root / f"{DB_NAME}-wal"
    pending = wal.exists() and wal.stat().st_size > 0
    full = _disk_full(root)
    if full and pending:
        raise WorkspaceError(f"the disk holding the workspace {root} is full and its database has "
                             "changes not yet merged — free some space on that drive and try again")
    revision = _read_revision(root, immutable=full)
    if revision is not None and revision not in database.known_revisions():
        raise database.newer_schema_error(revision)
    ws = Workspace(root, busy_timeout_s, read_only=True, immutable=full)
    ws.read_only_reason = reason
    _check_quick(ws)
    return ws


def open_workspace(root: Path, busy_timeout_s: float = database.BUSY_TIMEOUT_S,
                   read_only: bool = False) -> Workspace:
    """Open an existing workspace, upgrading an older schema; refuses a newer one.

    Refuses (changing nothing) a database that is damaged, not a database, or empty while the
    workspace holds product folders. Opening writes nothing unless the schema needs an upgrade
    or leftovers of a crash are found (then they are removed and listed in `ws.cleaned`). With
    `read_only`, or on a full disk, nothing at all is written and reading still works.
    """
    root = Path(root).expanduser()
    if not (root / DB_NAME).is_file():
        raise WorkspaceError(f"no workspace at {root} (missing {DB_NAME}) — "
                             f"create one with `inspector workspace init \"{root}\"`")
    empty = _check_database_file(root)
    if read_only:
        return _open_read_only(root, "the workspace was opened read-only", busy_timeout_s)
    if _disk_full(root) and not empty:
        return _open_read_only(root, f"the disk holding the workspace {root} is full", busy_timeout_s)
    if not os.access(root, os.W_OK) or not os.access(root / DB_NAME, os.W_OK):
        raise WorkspaceError(f"workspace {root} is not writable — check its permissions")
    revision = None if empty else _read_revision(root)
    if revision is not None and revision not in database.known_revisions():
        raise database.newer_schema_error(revision)  # checked read-only: not even WAL is switched on
    ws = Workspace(root, busy_timeout_s)
    try:
        if not empty:
            _check_quick(ws)
        if revision != database.head_revision():
            database.upgrade(ws.engine)
    except WorkspaceError:
        ws.close()
        raise
    except Exception as exc:  # noqa: BLE001 - any database failure here is a message, not a traceback
        ws.close()
        raise WorkspaceError(f"cannot open workspace database {root / DB_NAME}: "
                             f"{user_message(exc) or exc}") from None
    ws.cleaned = clean_leftovers(ws)
    return ws


def _check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise WorkspaceError(f"workspace folder {root} is not writable — "
                             f"{user_message(exc) or exc}") from None


def init_workspace(root: Path) -> Workspace:
    """Create (or upgrade) a workspace at `root`.

    Never creates a database over product folders that have lost theirs (that would orphan
    their images): restoring the database is the way back.
    """
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} exists and is not a folder — choose a folder for the workspace")
    if (root / DB_NAME).is_file():
        return open_workspace(root)
    if (root / DB_NAME).exists():
        raise WorkspaceError(f"{root / DB_NAME} is not a file — move it aside and try again")
    folders = product_folders(root)
    if folders:
        raise WorkspaceError(
            f"{root} holds {len(folders)} product folder(s) but no {DB_NAME} — restore {DB_NAME} from a "
            f"backup; to start a new workspace here instead, move {root / 'products'} aside first "
            "(nothing was changed)")
    _check_writable(root)
    ws = Workspace(root)
    try:
        database.upgrade(ws.engine)
        (ws.root / "products").mkdir(exist_ok=True)
    except WorkspaceError:
        ws.close()
        raise
    except Exception as exc:  # noqa: BLE001
        ws.close()
        raise WorkspaceError(f"cannot create the workspace database in {root}: {user_message(exc) or exc}") from None
    return ws
