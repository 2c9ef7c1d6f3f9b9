"""Which files of a folder source were already inspected, so a restart repeats none and skips none.

One SQLite file per workspace (<workspace>/line/ledger.sqlite), keyed by the source folder. Before
a file's record is written its row is committed as *pending* (record_id -1); right after the
record commits, the row gets the record id. After a crash, `recover` settles each pending row:
a record of this station for that file name, written within seconds after the row, means it
was inspected (the row becomes done); none means it was not (the row goes, and the file is
inspected again).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

from sqlalchemy import select

from ..storage.models import Inspection
from ..storage.workspace import Workspace

_SCHEMA = """
CREATE TABLE IF NOT EXISTS processed (
    source TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    record_id INTEGER NOT NULL, product TEXT NOT NULL, started REAL NOT NULL,
    PRIMARY KEY (source, name, size, mtime_ns));
CREATE INDEX IF NOT EXISTS processed_pending ON processed (source, record_id);
"""
PENDING = -1  # record_id of a file whose record may or may not have committed
SKIPPED = 0  # record_id of a file the engine refused (not tried again)
RECORD_WINDOW_S = 30.0  # a pending file's record commits this soon after its row, or never did


def source_key(folder: Path) -> str:
    """A stable key for a folder (its resolved path), short enough to read."""
    resolved = str(Path(folder).expanduser().resolve())
    return f"{Path(resolved).name}-{hashlib.sha1(resolved.encode()).hexdigest()[:12]}"


class Ledger:
    """Processed files of one folder source. Thread-safe; every write is its own commit."""

    def __init__(self, ws: Workspace, folder: Path) -> None:
        self.ws = ws
        self.folder = Path(folder).expanduser()
        self.key = source_key(self.folder)
        self.path = ws.root / "line" / "ledger.sqlite"
        self._lock = threading.Lock()
        self._conn: Optional[sqlite3.Connection] = None  # opened on first use: bad input writes nothing

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # a committed row survives a power cut
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def is_done(self, name: str, identity: tuple[int, int]) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM processed WHERE source=? AND name=? AND size=? AND mtime_ns=? "
                "AND record_id != ?", (self.key, name, identity[0], identity[1], PENDING)).fetchone()
        return row is not None

    def mark_pending(self, name: str, identity: tuple[int, int], product: str) -> None:
        """Committed just before the file's record is written."""
        self._put(name, identity, PENDING, product)

    def mark_done(self, name: str, identity: tuple[int, int], record_id: int, product: str) -> None:
        """Committed right after the file's record (record_id; SKIPPED when there is none)."""
        self._put(name, identity, record_id, product)

    def _put(self, name: str, identity: tuple[int, int], record_id: int, product: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO processed VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (self.key, name, identity[0], identity[1], record_id, product,
                              time.time()))

    def count(self) -> int:
        """Files done (pending ones not counted)."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM processed WHERE source=? AND record_id != ?",
                                    (self.key, PENDING)).fetchone()[0]

    def recover(self, station: str) -> list[str]:
        """Settle the rows left pending by a crash; returns the names found recorded."""
        with self._lock:
            pending = self._db.execute(
                "SELECT name, size, mtime_ns, product, started FROM processed "
                "WHERE source=? AND record_id=?", (self.key, PENDING)).fetchall()
        recovered = []
        for name, size, mtime_ns, product, started in pending:
            at = datetime.fromtimestamp(started, timezone.utc).replace(tzinfo=None)
            with self.ws.session() as s:  # later records of another folder's same name don't count
                record_id = s.scalar(select(Inspection.id).where(
                    Inspection.station == station, Inspection.original_name == name,
                    Inspection.created_at >= at - timedelta(seconds=1),
                    Inspection.created_at <= at + timedelta(seconds=RECORD_WINDOW_S))
                    .order_by(Inspection.id).limit(1))
            if record_id is not None:
                self.mark_done(name, (size, mtime_ns), int(record_id), product)
                recovered.append(name)
            else:
                with self._lock:
                    self._db.execute("DELETE FROM processed WHERE source=? AND name=? AND size=? "
                                     "AND mtime_ns=? AND record_id=?",
                                     (self.key, name, size, mtime_ns, PENDING))
        return recovered

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


