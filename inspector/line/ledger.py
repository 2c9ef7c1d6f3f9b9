"""Which files of a folder source were already inspected, so a restart repeats none and skips none.

One SQLite file per workspace (<workspace>/line/ledger.sqlite), keyed by the source folder: a row
(name, size, mtime_ns) is committed right after the file's inspection record, in its own
transaction. The one crash window left (record committed, ledger row not yet) is closed by
`recover`, which looks for the station's newest records that no ledger row claims.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from datetime import timezone
from pathlib import Path
from typing import Optional

from sqlalchemy import select

from ..storage.models import Inspection, Product
from ..storage.workspace import Workspace

_SCHEMA = """
CREATE TABLE IF NOT EXISTS processed (
    source TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    record_id INTEGER NOT NULL, product TEXT NOT NULL,
    PRIMARY KEY (source, name, size, mtime_ns));
CREATE INDEX IF NOT EXISTS processed_record ON processed (source, record_id);
"""
RECOVER_LOOKBACK = 5  # newest records checked at start; the window is one part wide


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
                "SELECT 1 FROM processed WHERE source=? AND name=? AND size=? AND mtime_ns=?",
                (self.key, name, identity[0], identity[1])).fetchone()
        return row is not None

    def mark_done(self, name: str, identity: tuple[int, int], record_id: int, product: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO processed VALUES (?, ?, ?, ?, ?, ?)",
                             (self.key, name, identity[0], identity[1], record_id, product))

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM processed WHERE source=?",
                                    (self.key,)).fetchone()[0]

    def last_record_id(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(record_id) FROM processed WHERE source=?",
                                   (self.key,)).fetchone()
        return int(row[0] or 0)

    def recover(self, station: str, identity_of) -> list[str]:  # noqa: ANN001 - name -> identity|None
        """Ledger the files whose record was committed just before a crash; returns their names.

        identity_of(name) gives the file's current (size, mtime_ns), or None when it is gone.
        A record counts for a file when it is this station's, newer than every ledgered record
        of this source, and was written after the file's modification time.
        """
        last = self.last_record_id()
        with self.ws.session() as s:
            rows = s.execute(select(Inspection.id, Inspection.original_name, Inspection.created_at,
                                    Product.name)
                             .join(Product, Product.id == Inspection.product_id)
                             .where(Inspection.station == station, Inspection.id > last)
                             .order_by(Inspection.id.desc()).limit(RECOVER_LOOKBACK)).all()
        recovered = []
        for record_id, name, created_at, product in rows:
            identity = identity_of(name) if name else None
            if identity is None or self.is_done(name, identity):
                continue
            created = created_at.replace(tzinfo=timezone.utc).timestamp()
            if identity[1] / 1e9 <= created + 1.0:  # the file existed before its record
                self.mark_done(name, identity, record_id, product)
                recovered.append(name)
        return recovered

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


