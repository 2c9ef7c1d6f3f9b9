"""Messages waiting for the broker: a bounded, ordered queue in a small SQLite file.

Every message goes through the spool (insert, publish, delete after the broker's PUBACK), so a
broker restart or a process crash loses nothing and the order is the insert order. At its
bound the oldest messages are dropped and counted (`dropped`), so disk use stays bounded.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Optional

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters VALUES ('dropped', 0);
"""


class Spool:
    """FIFO of (topic, payload) with at most `max_messages` rows. Thread-safe."""

    def __init__(self, path: Path, max_messages: int = 10000) -> None:
        if max_messages < 1:
            raise ValueError("a spool holds at least one message")
        self.path = Path(path)
        self.max_messages = int(max_messages)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def push_many(self, items: list[tuple[str, bytes]]) -> int:
        """Append messages in one transaction; returns how many old ones the bound dropped."""
        if not items:
            return 0
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT INTO messages (topic, payload) VALUES (?, ?)", items)
                n = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
                over = max(0, n - self.max_messages)
                if over:
                    db.execute("DELETE FROM messages WHERE id IN "
                               "(SELECT id FROM messages ORDER BY id LIMIT ?)", (over,))
                    db.execute("UPDATE counters SET value = value + ? WHERE name = 'dropped'", (over,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return over

    def peek(self) -> Optional[tuple[int, str, bytes]]:
        """The oldest message (id, topic, payload), or None when empty."""
        with self._lock:
            row = self._db.execute("SELECT id, topic, payload FROM messages ORDER BY id LIMIT 1").fetchone()
        return (int(row[0]), row[1], bytes(row[2])) if row else None

    def remove(self, message_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    @property
    def dropped(self) -> int:
        """Messages dropped at the bound since the spool file was created."""
        with self._lock:
            return int(self._db.execute("SELECT value FROM counters WHERE name='dropped'").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
